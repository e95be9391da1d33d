// The backplane dashboard (MapSqliteBackplaneDashboard) in Debian's Chromium, driven by playwright-core.
// Usage: node browser-dashboard.mjs <url 1> <url 2> <url 3> <pid 3> <artifact directory> [docs screenshot path]
// Three TestServer processes share one file; the page is opened on the first. It checks that the page lists the three
// nodes; that the TestHub's online users match the presence API; that messages sent through the hub move the rate
// chart and appear in the tail; that the page's memory stays flat while it is left open under load (20 s here;
// DASHBOARD_SOAK_SECONDS=60 for the full minute); and that kill -9 of the third process turns its node red
// with the reason "crash detected" (or "timeout" when the heartbeat reaped it), then removes it. Screenshots are artifacts; with a docs path, the one taken
// during the kill is saved there too.
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { connectTestHub, fail, ok, run, step, withTimeout, STEP_TIMEOUT_MS } from "./lib.mjs";
import { CHROMIUM_PATH } from "./browser-lib.mjs";

const [url1, url2, url3, pid3, artifactDir, docsScreenshot] = process.argv.slice(2);
if (!url1 || !url2 || !url3 || !Number(pid3) || !artifactDir) {
  console.log("FAIL usage: node browser-dashboard.mjs <url 1> <url 2> <url 3> <pid 3> <artifact directory> [docs screenshot path]");
  process.exit(2);
}

const HUB = "SqliteBackplane.TestServer.TestHub";
const SOAK_SECONDS = Number(process.env.DASHBOARD_SOAK_SECONDS || 20);
/** JS heap growth allowed over the soak, after a forced GC at both ends: bounded page state grows by nothing. */
const MAX_HEAP_GROWTH_BYTES = 3 * 1024 * 1024;
/** A gone node stays listed (red) for 10 s, then disappears on the next snapshot. */
const REMOVAL_TIMEOUT_MS = 10000 + 2 * STEP_TIMEOUT_MS;

const base = (url) => url.replace(/\/$/, "");

await run((connections) => withBrowser(async (page, client) => {
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => { if (message.type() === "error") console.log(`CONSOLE ${message.text()}`); });

  let alice, bob, carol;
  await step("connect alice, bob and carol to the three processes; each joins a room", async () => {
    alice = await connectTestHub(url1, "alice");
    bob = await connectTestHub(url2, "bob");
    carol = await connectTestHub(url3, "carol");
    connections.push(alice.connection, bob.connection, carol.connection);
    await alice.invoke("AddToGroup", alice.connectionId, "room-a");
    await bob.invoke("AddToGroup", bob.connectionId, "room-a");
    await carol.invoke("AddToGroup", carol.connectionId, "room-b");
    ok("alice, bob and carol are connected to processes 1, 2 and 3");
  });

  const pids = [];
  await step("open the dashboard on process 1; it lists the three nodes", async () => {
    await page.goto(`${base(url1)}/backplane/`);
    await page.locator('#status[data-state="connected"]').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#nodes tbody tr[data-state="live"]').length === 3);
    for (const row of await page.locator("#nodes tbody tr").all()) pids.push(Number(await row.getAttribute("data-pid")));
    if (new Set(pids).size !== 3 || !pids.includes(Number(pid3))) fail(`the page lists pids ${JSON.stringify(pids)}; expected three different processes, one of them ${pid3}`);
    // Every node publishes its figures while the page watches: reader lag and local connections for each.
    await page.waitForFunction(() => [...document.querySelectorAll("#nodes tbody tr")].every((row) => row.querySelector(".lag").textContent.includes("rows")));
    ok(`the page lists three live nodes (pids ${pids.join(", ")}), each with its reader lag`);
  });

  await step("the TestHub's online users on the page match the presence API", async () => {
    const online = await alice.invoke("GetOnlineUsers");
    const card = page.locator(`#hubs .hub[data-hub="${HUB}"]`);
    await page.waitForFunction(([hub, users]) => document.querySelector(`#hubs .hub[data-hub="${hub}"]`)?.dataset.users === String(users), [HUB, online.length]);
    const shown = Number(await card.getAttribute("data-users"));
    if (shown !== online.length || online.length !== 3) fail(`the page shows ${shown} users; the presence API lists ${JSON.stringify(online)}`);
    await card.locator('li[data-group="room-a"]').waitFor();
    const size = (await card.locator('li[data-group="room-a"] span').nth(1).textContent()).trim();
    if (size !== "2") fail(`the page shows room-a with ${size} members; expected 2`);
    // The search box asks the server for groups by name.
    await card.locator("input").fill("room-b");
    await card.locator('li[data-group="room-b"]').waitFor();
    await page.waitForFunction((hub) => document.querySelectorAll(`#hubs .hub[data-hub="${hub}"] li[data-group]`).length === 1, HUB);
    await card.locator("input").fill("");
    ok(`the page shows ${shown} online users of the TestHub, as the presence API does (${online.join(", ")}), and room-a with 2 members; the group search finds room-b`);
  });

  // A steady load from bob while the page is open: about 50 messages per second to everyone.
  let loading = true;
  let sent = 0;
  const load = (async () => {
    while (loading) {
      await bob.connection.invoke("SendAll", `load ${sent++}`).catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();

  await step("messages sent through the hub move the rate chart and appear in the tail", async () => {
    await page.waitForFunction(() => Number(document.getElementById("rate-chart").dataset.maxRate) >= 5);
    await page.locator('#tail tbody tr[data-kind="All"]').first().waitFor();
    const kind = await page.locator("#tail tbody tr[data-kind=\"All\"] td").nth(3).textContent();
    if (kind !== "All") fail(`the tail's kind cell says ${JSON.stringify(kind)}`);
    await page.waitForFunction(() => [...document.querySelectorAll("#nodes tbody tr .in")].some((cell) => Number(cell.textContent.replace(/,/g, "")) > 0));
    if (await page.locator("#tail td.payload").count() !== 0) fail("the tail shows payloads although the app did not opt in");
    const rate = await page.locator("#rate-chart").getAttribute("data-max-rate");
    ok(`the rate chart shows up to ${Number(rate).toFixed(0)} rows/s and the tail lists the sends (payloads hidden)`);
  });

  await step(`the page's memory stays flat over ${SOAK_SECONDS} s under load`, async () => {
    const heap = async () => {
      await client.send("HeapProfiler.collectGarbage");
      const { metrics } = await client.send("Performance.getMetrics");
      return { heap: metrics.find((m) => m.name === "JSHeapUsedSize").value, nodes: metrics.find((m) => m.name === "Nodes").value };
    };
    await client.send("Performance.enable");
    const before = await heap();
    const sentBefore = sent;
    await new Promise((resolve) => setTimeout(resolve, SOAK_SECONDS * 1000));
    const after = await heap();
    const growth = after.heap - before.heap;
    console.log(`MEASURE heap ${before.heap} -> ${after.heap} bytes, DOM nodes ${before.nodes} -> ${after.nodes}, ${sent - sentBefore} messages sent during the window`);
    if (sent - sentBefore < SOAK_SECONDS * 5) fail(`only ${sent - sentBefore} messages were sent during the window: the load did not run`);
    if (growth > MAX_HEAP_GROWTH_BYTES) fail(`the page's JS heap grew by ${growth} bytes in ${SOAK_SECONDS} s (more than ${MAX_HEAP_GROWTH_BYTES})`);
    const tailRows = await page.locator("#tail tbody tr").count();
    if (tailRows > 100) fail(`the tail holds ${tailRows} rows; it is bounded at 50`);
    ok(`the page's JS heap changed by ${(growth / 1024).toFixed(0)} KiB over ${SOAK_SECONDS} s under load (at most ${MAX_HEAP_GROWTH_BYTES / 1024 / 1024} MiB allowed); the tail holds ${tailRows} rows`);
  }, SOAK_SECONDS * 1000 + 4 * STEP_TIMEOUT_MS);

  loading = false;
  await load;

  await step("kill -9 of process 3: its node turns red (crash detected), carol leaves, then the node is removed", async () => {
    const killed = Number(pid3);
    const row = page.locator(`#nodes tbody tr[data-pid="${killed}"]`);
    const killedAt = Date.now();
    process.kill(killed, "SIGKILL");
    ok(`killed process 3 (pid ${killed}) with SIGKILL`);
    await row.and(page.locator('[data-state="gone"]')).waitFor({ timeout: 2 * STEP_TIMEOUT_MS });
    const redAfter = Date.now() - killedAt;
    // The reason follows as soon as this process's reader applies the removal (the presence feed).
    await row.and(page.locator("[data-reason]")).waitFor();
    const reason = await row.getAttribute("data-reason");
    // Normally the lock file's release reaps it within about a second ("crash detected"); if the survivors miss it, the
    // heartbeat timeout reaps it ("timeout"). The xunit test checks the reason against the survivors' logs.
    if (reason !== "crash detected" && reason !== "timeout") fail(`the killed node's reason is ${JSON.stringify(reason)}; expected "crash detected" (or "timeout")`);
    const color = await row.locator("td").first().evaluate((cell) => getComputedStyle(cell).color);
    if (color !== "rgb(198, 40, 40)") fail(`the killed node's row is drawn in ${color}, not red`);
    await page.locator('#presence li[data-kind="UserLeft"][data-user="carol"]').waitFor();
    await screenshot(page, "dashboard-kill");
    if (docsScreenshot) {
      fs.mkdirSync(path.dirname(docsScreenshot), { recursive: true });
      await page.screenshot({ path: docsScreenshot, fullPage: true });
      console.log(`ARTIFACT ${path.resolve(docsScreenshot)}`);
    }
    ok(`the killed node turned red ${redAfter} ms after the kill, with the reason "${reason}"; the presence list shows carol leaving`);
    await row.waitFor({ state: "detached", timeout: REMOVAL_TIMEOUT_MS });
    await page.waitForFunction(() => document.querySelectorAll('#nodes tbody tr[data-state="live"]').length === 2);
    ok(`the killed node was removed ${Date.now() - killedAt} ms after the kill; two live nodes remain`);
  }, REMOVAL_TIMEOUT_MS + 4 * STEP_TIMEOUT_MS);

  if (pageErrors.length > 0) fail(`JavaScript errors on the page: ${pageErrors.join("; ")}`);
  await screenshot(page, "dashboard-after");
  ok("screenshots saved; no page errors");
}));

async function screenshot(page, name) {
  const file = path.resolve(artifactDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`ARTIFACT ${file}`);
}

/** Runs `body(page, cdp)` with Chromium open on one page; on failure saves a screenshot before rethrowing. */
async function withBrowser(body) {
  if (!fs.existsSync(CHROMIUM_PATH)) fail(`Chromium is missing at ${CHROMIUM_PATH}: run \`apt-get install -y chromium\` (./test.sh installs it when run as root).`);
  fs.mkdirSync(artifactDir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH, headless: true, timeout: 2 * STEP_TIMEOUT_MS,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  ok(`launched ${CHROMIUM_PATH} ${browser.version()}`);
  let page;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(2 * STEP_TIMEOUT_MS);
    const client = await context.newCDPSession(page);
    await body(page, client);
  } catch (error) {
    if (page) await withTimeout(screenshot(page, "failure"), "a failure screenshot", 10000).catch(() => {});
    throw error;
  } finally {
    await withTimeout(browser.close(), "Chromium to close", 10000).catch(() => {});
  }
}
