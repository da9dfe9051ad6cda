/** What a request diff can say about the previous request (pure: the panel renders it). */
import type { RequestDiff } from "./types.js";

export type PreviousRequest = NonNullable<RequestDiff["previous"]>;

export type DiffOutcome =
  /** No earlier request of the conversation has a stored body. */
  | { kind: "none" }
  /** The nearest earlier request's body was evicted by retention: nothing to compare. */
  | { kind: "evicted"; previous: PreviousRequest }
  /** Compared with the previous request: the diff's added, removed and edited messages. */
  | { kind: "compared"; previous: PreviousRequest };

export const NO_EARLIER = "No earlier request with a stored body in this conversation.";

export function diffOutcome(diff: RequestDiff): DiffOutcome {
  const previous = diff.previous;
  if (previous === undefined) return { kind: "none" };
  return previous.evicted === true ? { kind: "evicted", previous } : { kind: "compared", previous };
}
