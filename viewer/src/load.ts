/** Loading state for a view: the data, or the error, of the latest request (older ones are aborted). */
import type { ComponentChildren } from "preact";
import { useEffect, useErrorBoundary, useState } from "preact/hooks";
import { ApiError } from "./api.js";
import { html } from "./html.js";

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
}

export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>({ data: undefined, error: undefined, loading: true });
  useEffect(() => {
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true, error: undefined }));
    load(ctl.signal).then(
      (data) => {
        if (!ctl.signal.aborted) setState({ data, error: undefined, loading: false });
      },
      (error: unknown) => {
        if (!ctl.signal.aborted) {
          setState({
            data: undefined,
            error: error instanceof Error ? error : new Error(String(error)),
            loading: false,
          });
        }
      },
    );
    return () => ctl.abort();
  }, deps);
  return state;
}

export function ErrorBox({ error }: { error: Error }) {
  const code = error instanceof ApiError ? `${error.code}: ` : "";
  return html`<div class="error-box" role="alert">${code}${error.message}</div>`;
}

/**
 * Renders its children, or, if rendering them throws (a body of a shape nobody foresaw), a note saying
 * so in their place: one bad body must not take the rest of the page down with it.
 */
export function Guard({ what, children }: { what: string; children: ComponentChildren }) {
  const [error, reset] = useErrorBoundary();
  if (error) {
    const message = error instanceof Error ? error.message : String(error);
    return html`<div class="error-box" role="alert">Could not show ${what}: ${message}
      <button type="button" class="link" onClick=${reset}>try again</button></div>`;
  }
  return children;
}
