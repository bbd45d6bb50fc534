import "./styles.css";
import type { AppInfo } from "./bindings/AppInfo";
import { h, mount } from "./dom";
import { makeApi, toCommandError } from "./ipc";
import { connectScreen } from "./screens/connect";
import { homeScreen } from "./screens/home";

const api = makeApi();
const root = document.getElementById("app") as HTMLElement;

async function start(): Promise<void> {
  let info: AppInfo;
  try {
    info = await api.appInfo();
  } catch (e) {
    mount(root, h("main", { class: "center" }, h("p", { class: "error", role: "alert" }, toCommandError(e).message)));
    return;
  }
  const showConnect = () =>
    mount(
      root,
      connectScreen(api, info, (session) => {
        info = { ...info, session, last_server_url: session.server_url };
        showHome();
      }),
    );
  const showHome = () => {
    if (!info.session) return showConnect();
    mount(root, homeScreen(api, info.session, () => {
      info = { ...info, session: null };
      showConnect();
    }));
  };
  showHome();
}

document.addEventListener("keydown", (ev) => {
  if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "k") {
    const search = document.getElementById("search");
    if (search) {
      ev.preventDefault();
      search.focus();
    }
  }
});

void start();
