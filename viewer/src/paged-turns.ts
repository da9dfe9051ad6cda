/**
 * Turn summaries a page at a time (`GET /v1/turns` and its cursor), shared by the turns list and the
 * conversation view. Every request of one query runs under that query's AbortController, aborted when
 * the query changes (or the view goes), so a late page can never land in a list of other filters.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type TurnSummary } from "./api.js";

export interface PagedTurns {
  turns: TurnSummary[];
  /** The next page's cursor, when there is one. */
  cursor: string | undefined;
  loading: boolean;
  error: Error | undefined;
  /** Loads the next page (nothing while a page is loading or when there is none). */
  next: () => void;
}

type State = Omit<PagedTurns, "next">;
const START: State = { turns: [], cursor: undefined, loading: true, error: undefined };

/** `params` are the API's; `key` changes exactly when they do (it restarts the list). */
export function usePagedTurns(params: Record<string, string>, key: string): PagedTurns {
  const [state, setState] = useState<State>(START);
  const current = useRef<{ ctl: AbortController; params: Record<string, string> } | undefined>(undefined);
  const fetchPage = async (after: string | undefined) => {
    const run = current.current;
    if (!run) return;
    const { signal } = run.ctl;
    setState((s) => ({ ...s, loading: true, error: undefined }));
    try {
      const page = await api.turns({ ...run.params, cursor: after }, signal);
      if (signal.aborted) return;
      setState((s) => ({
        turns: after ? [...s.turns, ...page.turns] : page.turns,
        cursor: page.nextCursor,
        loading: false,
        error: undefined,
      }));
    } catch (err) {
      if (!signal.aborted) setState((s) => ({ ...s, loading: false, error: err as Error }));
    }
  };
  useEffect(() => {
    const run = { ctl: new AbortController(), params };
    current.current = run;
    setState(START);
    void fetchPage(undefined);
    return () => run.ctl.abort();
  }, [key]);
  const next = () => {
    if (!state.loading && state.cursor) void fetchPage(state.cursor);
  };
  return { ...state, next };
}
