// The chat sample in Debian's Chromium, driven by playwright-core (which never downloads a browser here).
// Usage: node browser-chat.mjs <instance 1 base url> <instance 2 base url> <artifact directory>
// Opens the page on instance 1 as alice and on instance 2 as bob, sends a #lobby message from each page, checks
// it appears exactly once on the other (served by the other process), and saves screenshots of both pages.
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { fail, ok, run, step, withTimeout, STEP_TIMEOUT_MS } from "./lib.mjs";

const [url1, url2, artifactDir] = process.argv.slice(2);
if (!url1 || !url2 || !artifactDir) {
  console.log("FAIL usage: node browser-chat.mjs <instance 1 base url> <instance 2 base url> <artifact directory>");
  process.exit(2);
}

// Debian's package (./test.sh installs it); never a downloaded browser.
const executablePath = "/usr/bin/chromium";
const LAUNCH_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

let browser;
await run(async () => {
  if (!fs.existsSync(executablePath)) {
    fail(`Chromium is missing at ${executablePath}: run \`apt-get install -y chromium\` (./test.sh installs it when run as root).`);
  }
  fs.mkdirSync(artifactDir, { recursive: true });
  const pageErrors = [];
  const openPages = [];

  try {
    await step("launch Chromium", async () => {
      browser = await chromium.launch({ executablePath, headless: true, args: LAUNCH_ARGS, timeout: 2 * STEP_TIMEOUT_MS });
      ok(`launched ${executablePath} ${browser.version()}`);
    });

    const open = async (url, user, instance) => {
      const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
      const page = await context.newPage();
      page.setDefaultTimeout(2 * STEP_TIMEOUT_MS);
      page.on("pageerror", (error) => pageErrors.push(`${user}: ${error.message}`));
      page.on("console", (message) => {
        if (message.type() === "error") console.log(`CONSOLE ${user}: ${message.text()}`);
      });
      const opened = { page, user, instance, pid: null };
      openPages.push(opened);
      await page.goto(`${url.replace(/\/$/, "")}/?user=${encodeURIComponent(user)}`);
      await page.locator('#status[data-state="connected"]').waitFor();
      await page.locator(`#instance[data-instance="${instance}"]`).waitFor();
      // The page joins #lobby after connecting; once the target shows it, JoinRoom has completed (and is committed).
      await page.locator("#target", { hasText: "#lobby" }).waitFor();
      opened.pid = await page.locator("#instance").getAttribute("data-pid");
      return opened;
    };

    let alice, bob;
    await step("open the sample on instance 1 (alice) and instance 2 (bob)", async () => {
      [alice, bob] = await Promise.all([open(url1, "alice", "1"), open(url2, "bob", "2")]);
      if (alice.pid === bob.pid) fail(`both pages were served by process ${alice.pid}; expected two processes`);
      ok(`alice's page is served by instance 1 (pid ${alice.pid}), bob's by instance 2 (pid ${bob.pid}); both joined #lobby`);
    });

    const roomMessages = (page, from) => page.locator(`#messages li[data-kind="room"][data-room="lobby"][data-from="${from}"]`);
    const send = async (sender, text) => {
      await sender.page.locator("#message").fill(text);
      await sender.page.locator("#send").click();
    };
    const expectMessage = async (receiver, from, text, viaInstance) => {
      const item = roomMessages(receiver.page, from).filter({ hasText: text });
      await item.first().waitFor();
      const shown = (await item.first().locator(".text").textContent())?.trim();
      const via = (await item.first().locator(".via").textContent())?.trim();
      if (shown !== text) fail(`${receiver.user}'s page shows ${JSON.stringify(shown)} instead of ${JSON.stringify(text)}`);
      if (via !== `via instance ${viaInstance}`) fail(`${receiver.user}'s page shows ${JSON.stringify(via)}; expected "via instance ${viaInstance}"`);
    };

    const fromAlice = `hello from alice on instance 1 (${Date.now()})`;
    const fromBob = `hi alice, bob here on instance 2 (${Date.now()})`;
    await step("alice sends a #lobby message on instance 1; it appears on bob's page on instance 2", async () => {
      await send(alice, fromAlice);
      await expectMessage(bob, "alice", fromAlice, 1);
      await expectMessage(alice, "alice", fromAlice, 1);
      ok(`bob's page (instance 2) shows alice's message "${fromAlice}" via instance 1`);
    });

    await step("bob replies on instance 2; it appears on alice's page on instance 1", async () => {
      await send(bob, fromBob);
      await expectMessage(alice, "bob", fromBob, 2);
      await expectMessage(bob, "bob", fromBob, 2);
      ok(`alice's page (instance 1) shows bob's reply "${fromBob}" via instance 2`);
    });

    await step("each message appears exactly once on each page", async () => {
      // bob's reply was sent after alice's message, so by now any duplicate of hers would have arrived.
      for (const viewer of [alice, bob]) {
        const aliceCount = await roomMessages(viewer.page, "alice").count();
        const bobCount = await roomMessages(viewer.page, "bob").count();
        if (aliceCount !== 1 || bobCount !== 1) {
          fail(`${viewer.user}'s page shows ${aliceCount} message(s) from alice and ${bobCount} from bob; expected 1 each: ${await viewer.page.locator("#messages").innerText()}`);
        }
      }
      if (pageErrors.length > 0) fail(`JavaScript errors on the pages: ${pageErrors.join("; ")}`);
      ok("1 message from alice and 1 from bob on each page; no page errors");
    });

    await step("save screenshots", async () => {
      for (const viewer of [alice, bob]) {
        const file = path.resolve(artifactDir, `chat-instance${viewer.instance}-${viewer.user}.png`);
        await viewer.page.screenshot({ path: file, fullPage: true });
        console.log(`ARTIFACT ${file}`);
      }
      ok("screenshots saved");
    });
  } catch (error) {
    // Keep what the pages showed when the check failed, for the test's failure message.
    for (const page of openPages) {
      const file = path.resolve(artifactDir, `failure-${page.user}.png`);
      await withTimeout(page.page.screenshot({ path: file, fullPage: true }), "a failure screenshot", 10000)
        .then(() => console.log(`ARTIFACT ${file}`))
        .catch(() => {});
    }
    throw error;
  } finally {
    if (browser) await withTimeout(browser.close(), "Chromium to close", 10000).catch(() => {});
  }
});
