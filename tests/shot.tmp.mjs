import { launch, waitReady, screenshot } from "./support/browser.js";
import { startCloud } from "./support/env.js";
const cloud = await startCloud();
try {
  for (const [name, viewport, q] of [["dev-wide", { width: 1440, height: 1000 }, "?backend=cpu"], ["dev-mobile", { width: 390, height: 844 }, "?backend=cpu&codec=jpeg"]]) {
    const { page, messages, close } = await launch({ viewport });
    await page.goto(`${cloud.url}/${q}`);
    console.log(name, await waitReady(page));
    await screenshot(page, name);
    console.log(messages.join("\n"));
    await close();
  }
} finally { await cloud.stop(); }
