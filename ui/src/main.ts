import "./styles.css";
import { startApp } from "./app";
import { h, mount } from "./dom";
import { makeApi, toCommandError } from "./ipc";

const api = makeApi();
const root = document.getElementById("app") as HTMLElement;

api.appInfo().then(
  (info) => startApp(root, api, info),
  (e) => mount(root, h("main", { class: "center" }, h("p", { class: "error", role: "alert" }, toCommandError(e).message))),
);
