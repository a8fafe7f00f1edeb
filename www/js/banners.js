// Banners: the page's messages (errors, warnings) in one stack under the sticky top
// bar, one per id, replaced or removed by the code that raised it.

import { $, el } from "./format.js";

/** Keeps --topbar-h at the sticky top bar's height (0 where it scrolls away), for the banners. */
export function trackTopbar() {
  const bar = $(".topbar");
  const update = () => {
    const sticky = getComputedStyle(bar).position === "sticky";
    document.documentElement.style.setProperty("--topbar-h", `${sticky ? bar.getBoundingClientRect().height : 0}px`);
  };
  new ResizeObserver(update).observe(bar);
  matchMedia("(max-width: 640px)").addEventListener("change", update);
  update();
}

/**
 * Shows the banner `id` at `level` ("error" | "warn") with `text`, and a button for
 * `action` ({label, run}) if given; no text removes it.
 */
export function banner(id, level, text, action = null) {
  let node = $(`#banner-${id}`);
  if (!text) {
    node?.remove();
    return;
  }
  if (!node) {
    node = el("div", { id: `banner-${id}`, class: "banner", role: level === "error" ? "alert" : "status" });
    $("#banners").append(node);
  }
  node.dataset.level = level;
  node.replaceChildren(el("span", { class: "banner-text" }, text));
  if (action) node.append(el("button", { class: "button small", type: "button", onclick: action.run }, action.label));
  node.append(el("button", { class: "close", type: "button", title: "Dismiss", onclick: () => node.remove() }, "×"));
}
