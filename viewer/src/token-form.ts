/**
 * The token form, shown in place of every view when the API answers 401: the token is checked against
 * the API, then kept in sessionStorage (for this tab's session) and sent with every call.
 */
import { useState } from "preact/hooks";
import { checkToken, setToken, tokenSendable } from "./api.js";
import { html } from "./html.js";

export function TokenForm({ onAccepted }: { onAccepted: () => void }) {
  const [value, setValue] = useState("");
  const [message, setMessage] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!tokenSendable(value)) {
      // fetch would throw before sending, which reads like a network failure: say what is wrong instead
      setMessage("That token has characters an HTTP header cannot carry (only Latin-1 text can be sent).");
      return;
    }
    setBusy(true);
    setMessage(undefined);
    try {
      if (await checkToken(value)) {
        setToken(value);
        onAccepted();
      } else setMessage("That token was not accepted.");
    } catch (err) {
      setMessage(`The collector did not answer: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return html`<section class="page token-page">
    <form class="token-form" data-testid="token-form" onSubmit=${submit}>
      <h1>Token required</h1>
      <p>This collector was started with <code>--token</code>. Enter it to read its traces; it is kept for this browser tab's session only.</p>
      <input
        type="password"
        name="token"
        autocomplete="current-password"
        aria-label="Token"
        placeholder="token"
        value=${value}
        onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)}
        autofocus
      />
      <button type="submit" disabled=${busy || value === ""}>Open</button>
      ${message ? html`<p class="error-box" role="alert">${message}</p>` : null}
    </form>
  </section>`;
}
