// Open the page in headless Chromium (Debian's, through playwright-core), print its console as it
// goes and its report when its title becomes `done` or `failed`; exit 0 only for `done`.
// Usage: node run-page.mjs URL [TIMEOUT_SECONDS]   (run-headless.sh serves the page and calls it)
import { chromium } from "playwright-core";

const [url, limitArg] = process.argv.slice(2);
const limit = Number(limitArg || 600) * 1000;
const t0 = Date.now();
const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(1)} s]`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Dawn gets a Vulkan adapter (Chromium's bundled SwiftShader where the machine has no GPU).
  args: ["--no-sandbox", "--disable-gpu-sandbox", "--enable-unsafe-webgpu", "--enable-features=Vulkan",
         "--use-vulkan=native", "--use-angle=vulkan", "--ignore-gpu-blocklist"],
});
const page = await browser.newPage();
page.on("console", (m) => console.error(stamp(), `console.${m.type()}:`, m.text()));
page.on("pageerror", (e) => console.error(stamp(), "page error:", e.message));
await page.goto(url);
let title = "";
while (Date.now() - t0 < limit) {
  title = await page.title();
  if (title === "done" || title === "failed") break;
  await new Promise((r) => setTimeout(r, 500));
}
const report = await page.textContent("#out");
await browser.close();
console.log(report);
if (title !== "done") {
  console.log(title === "failed" ? "the page failed" : `the page did not finish in ${limit / 1000} s`);
  process.exit(1);
}
