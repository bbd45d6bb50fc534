// Home: the search box over the local contract index (the Search screen's
// skeleton; users search and keyboard navigation come next).
import type { ContractHit } from "../bindings/ContractHit";
import type { Session } from "../bindings/Session";
import { h } from "../dom";
import type { Api } from "../ipc";

export function homeScreen(api: Api, session: Session, onSignedOut: () => void): HTMLElement {
  const results = h("ul", { class: "results", role: "listbox", id: "results" });
  const status = h("p", { class: "muted", id: "status" }, "Type a contract name or id.");
  let latest = 0;

  const render = (hits: ContractHit[]) => {
    results.replaceChildren(
      ...hits.map((c) =>
        h(
          "li",
          { role: "option" },
          h("span", { class: "name" }, c.name),
          h("span", { class: "muted" }, ` ${c.contract_id} · ${c.users_with_two_factor}/${c.users} with 2FA`),
        ),
      ),
    );
  };

  const search = h("input", {
    id: "search",
    type: "search",
    placeholder: "Search contracts (Ctrl+K)",
    autocomplete: "off",
    oninput: async () => {
      const ticket = ++latest;
      try {
        const hits = await api.searchContracts(search.value, 20);
        if (ticket !== latest) return; // a newer keystroke won
        render(hits);
        status.textContent = search.value.trim() && hits.length === 0 ? "No contract matches." : "";
      } catch (e) {
        status.textContent = (e as { message: string }).message;
      }
    },
  });

  const signOut = h(
    "button",
    {
      onclick: async () => {
        try {
          await api.signOut();
          onSignedOut();
        } catch (e) {
          status.textContent = (e as { message: string }).message;
        }
      },
    },
    "Sign out",
  );

  return h(
    "div",
    { class: "shell" },
    h(
      "header",
      {},
      h("strong", {}, "Tollgate Console"),
      h("span", { class: "muted" }, `${session.manager_name} · ${session.server_url}`),
      session.storage === "session_only" ? h("span", { class: "badge" }, "session only") : null,
      signOut,
    ),
    h("main", {}, search, status, results),
  );
}
