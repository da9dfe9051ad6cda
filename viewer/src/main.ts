/**
 * The tracetier viewer: a single-page app over the collector's JSON API. The URL is the state (see
 * router.ts); a 401 from any call replaces every view with the token form until a token is accepted.
 */
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { getToken, onUnauthorized, setToken } from "./api.js";
import { ConversationView } from "./conversation-view.js";
import { html } from "./html.js";
import { interceptLinks, type Route, useRoute } from "./router.js";
import { TokenForm } from "./token-form.js";
import { TurnView } from "./turn-view.js";
import { TurnsList } from "./turns-list.js";
import { UsageView } from "./usage-chart.js";

function App() {
  const route = useRoute();
  const [locked, setLocked] = useState(false);
  /** Bumped when a token is accepted, so the view loads again with it. */
  const [epoch, setEpoch] = useState(0);
  useEffect(() => onUnauthorized(() => setLocked(true)), []);
  useEffect(() => {
    document.title = titleOf(route);
  }, [route]);
  return html`
    <header class="topbar">
      <a class="brand" href="/">tracetier</a>
      <nav>
        <a href="/" class=${route.view === "turns" ? "active" : ""}>Turns</a>
        <a href="/usage" class=${route.view === "usage" ? "active" : ""}>Usage</a>
      </nav>
      ${
        getToken() && !locked
          ? html`<button type="button" class="link forget" onClick=${() => {
              setToken(null);
              setLocked(true);
            }}>Forget token</button>`
          : null
      }
    </header>
    <main>
      ${
        locked
          ? html`<${TokenForm} onAccepted=${() => {
              setLocked(false);
              setEpoch(epoch + 1);
            }} />`
          : html`<${View} key=${`${epoch}:${viewKey(route)}`} route=${route} />`
      }
    </main>`;
}

function View({ route }: { route: Route }) {
  switch (route.view) {
    case "turns":
      return html`<${TurnsList} query=${route.query} />`;
    case "turn":
      return html`<${TurnView} id=${route.id} query=${route.query} />`;
    case "conversation":
      return html`<${ConversationView} id=${route.id} />`;
    case "usage":
      return html`<${UsageView} query=${route.query} />`;
    default:
      return html`<section class="page"><h1>Not found</h1><p>Nothing here. <a href="/">Back to the turns.</a></p></section>`;
  }
}

/** Views stay mounted while only their query changes (filters, selection); another id remounts. */
function viewKey(route: Route): string {
  return route.view === "turn" || route.view === "conversation" ? `${route.view}:${route.id}` : route.view;
}

function titleOf(route: Route): string {
  switch (route.view) {
    case "turn":
      return `Turn ${route.id} · tracetier`;
    case "conversation":
      return `Conversation ${route.id} · tracetier`;
    case "usage":
      return "Usage · tracetier";
    default:
      return "Turns · tracetier";
  }
}

const root = document.getElementById("app")!;
interceptLinks(document.body);
render(html`<${App} />`, root);
