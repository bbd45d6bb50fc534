import "./styles.css";
import { startApp } from "./app";
import { h, mount } from "./dom";
import { makeApi, toCommandError } from "./ipc";

const api = makeApi();
const root = document.getElementById("app") as HTMLElement;

api.appInfo().then(
  (info) => {
    startApp(root, api, info);
    // After the first paint: the core logs how long the start took.
    requestAnimationFrame(() => setTimeout(() => void api.uiReady().catch(() => undefined), 0));
  },
  (e) => mount(root, h("main", { class: "center" }, h("p", { class: "error", role: "alert" }, toCommandError(e).message))),
);
