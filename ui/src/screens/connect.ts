// Connect: server URL + manager token. When no keyring is reachable the
// screen says so and offers a session-only sign-in.
import type { AppInfo } from "../bindings/AppInfo";
import type { Session } from "../bindings/Session";
import { h } from "../dom";
import type { Api } from "../ipc";

export function connectScreen(api: Api, info: AppInfo, onSignedIn: (s: Session) => void): HTMLElement {
  const keyringMissing = !info.keyring.available;
  const url = h("input", {
    id: "server-url",
    type: "url",
    required: true,
    placeholder: "https://tollgate.example.com",
    value: info.last_server_url ?? "",
    autocomplete: "url",
  });
  const token = h("input", { id: "token", type: "password", required: true, autocomplete: "off", spellcheck: "false" });
  const sessionOnly = h("input", { id: "session-only", type: "checkbox", checked: keyringMissing });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Connect");

  const showError = (message: string) => {
    error.textContent = message;
    error.hidden = false;
  };

  const form = h(
    "form",
    {
      class: "card connect",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        error.hidden = true;
        submit.disabled = true;
        submit.textContent = "Checking…";
        try {
          const session = await api.connect({
            server_url: url.value,
            token: token.value,
            session_only: sessionOnly.checked,
          });
          token.value = "";
          onSignedIn(session);
        } catch (e) {
          const err = e as { code: string; message: string };
          if (err.code === "keyring_unavailable") sessionOnly.checked = true;
          showError(err.message);
        } finally {
          submit.disabled = false;
          submit.textContent = "Connect";
        }
      },
    },
    h("h1", {}, "Connect to Tollgate"),
    h("p", { class: "muted" }, "Use the server address and the manager token your administrator gave you."),
    h("label", { for: "server-url" }, "Server address"),
    url,
    h("label", { for: "token" }, "Manager token"),
    token,
    keyringMissing
      ? h(
          "p",
          { class: "notice", id: "keyring-notice" },
          "No system keyring is available, so the token cannot be saved. " +
            "You can sign in for this session only; you will need the token again next time.",
        )
      : null,
    h("label", { class: "check" }, sessionOnly, " Keep the token for this session only"),
    error,
    submit,
  );
  return h("main", { class: "center" }, form);
}
