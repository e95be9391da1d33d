// Helpers of the browser scripts: Debian's Chromium through playwright-core (never a downloaded browser), the chat
// sample's page opened as a user, room messages sent and checked, and screenshots.
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { fail, ok, step, withTimeout, STEP_TIMEOUT_MS } from "./lib.mjs";

// Debian's package (./test.sh installs it).
export const CHROMIUM_PATH = "/usr/bin/chromium";
const LAUNCH_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

/**
 * Runs `body(session)` with Chromium open. The session opens chat pages (`session.open`), records JavaScript errors
 * of every page (`session.pageErrors`), and on failure saves a screenshot of each open page before rethrowing.
 */
export async function withChromium(artifactDir, body) {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    fail(`Chromium is missing at ${CHROMIUM_PATH}: run \`apt-get install -y chromium\` (./test.sh installs it when run as root).`);
  }
  fs.mkdirSync(artifactDir, { recursive: true });
  let browser;
  const session = { pageErrors: [], pages: [] };
  try {
    await step("launch Chromium", async () => {
      browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: LAUNCH_ARGS, timeout: 2 * STEP_TIMEOUT_MS });
      ok(`launched ${CHROMIUM_PATH} ${browser.version()}`);
    });
    session.open = (url, user, instance) => openChatPage(browser, session, url, user, instance);
    await body(session);
  } catch (error) {
    // Keep what the pages showed when the check failed, for the test's failure message.
    for (const opened of session.pages) {
      const file = path.resolve(artifactDir, `failure-${opened.user}.png`);
      await withTimeout(opened.page.screenshot({ path: file, fullPage: true }), "a failure screenshot", 10000)
        .then(() => console.log(`ARTIFACT ${file}`))
        .catch(() => {});
    }
    throw error;
  } finally {
    if (browser) await withTimeout(browser.close(), "Chromium to close", 10000).catch(() => {});
  }
}

/**
 * Opens the sample at `url` as `user`, waits until it is connected (to `instance`, unless null: any instance, as through
 * the launcher's front door) and has joined #lobby. Each page has a browser context of its own (its own cookies).
 */
async function openChatPage(browser, session, url, user, instance) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await context.newPage();
  page.setDefaultTimeout(2 * STEP_TIMEOUT_MS);
  page.on("pageerror", (error) => session.pageErrors.push(`${user}: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") console.log(`CONSOLE ${user}: ${message.text()}`);
  });
  const opened = { page, user, instance, pid: null };
  session.pages.push(opened);
  await page.goto(`${url.replace(/\/$/, "")}/?user=${encodeURIComponent(user)}`);
  await page.locator('#status[data-state="connected"]').waitFor();
  await page.locator(instance === null ? "#instance[data-instance]" : `#instance[data-instance="${instance}"]`).waitFor();
  // The page joins #lobby after connecting; once the target shows it, JoinRoom has completed (and is committed).
  await page.locator("#target", { hasText: "#lobby" }).waitFor();
  opened.pid = await page.locator("#instance").getAttribute("data-pid");
  opened.instance = await page.locator("#instance").getAttribute("data-instance");
  opened.context = context;
  return opened;
}

/** The room messages from `from` in `room` on a page. */
export const roomMessages = (page, from, room = "lobby") =>
  page.locator(`#messages li[data-kind="room"][data-room="${room}"][data-from="${from}"]`);

/** Sends `text` from the page's composer to its current target. */
export async function send(sender, text) {
  await sender.page.locator("#message").fill(text);
  await sender.page.locator("#send").click();
}

/** Waits until the receiver's page shows `text` from `from` in `room`, sent through instance `viaInstance`. */
export async function expectMessage(receiver, from, text, viaInstance, room = "lobby") {
  const item = roomMessages(receiver.page, from, room).filter({ hasText: text });
  await item.first().waitFor();
  const shown = (await item.first().locator(".text").textContent())?.trim();
  const via = (await item.first().locator(".via").textContent())?.trim();
  if (shown !== text) fail(`${receiver.user}'s page shows ${JSON.stringify(shown)} instead of ${JSON.stringify(text)}`);
  if (via !== `via instance ${viaInstance}`) fail(`${receiver.user}'s page shows ${JSON.stringify(via)}; expected "via instance ${viaInstance}"`);
}

/** Fails when any page had a JavaScript error. */
export function assertNoPageErrors(session) {
  if (session.pageErrors.length > 0) fail(`JavaScript errors on the pages: ${session.pageErrors.join("; ")}`);
}

/** Saves a full-page screenshot of each page as `<prefix>-<user>.png` and prints its ARTIFACT line. */
export async function saveScreenshots(artifactDir, prefix, pages) {
  await step("save screenshots", async () => {
    for (const viewer of pages) {
      const file = path.resolve(artifactDir, `${prefix}-instance${viewer.instance}-${viewer.user}.png`);
      await viewer.page.screenshot({ path: file, fullPage: true });
      console.log(`ARTIFACT ${file}`);
    }
    ok("screenshots saved");
  });
}
