// The chat sample's failover in Debian's Chromium, driven by playwright-core, against the sample's launcher and its one
// URL (the YARP front door). Usage:
//   node browser-failover.mjs <front door url> <instance 1 base url> <instance 2 base url> <artifact directory>
// alice's and bob's pages open the front door's URL and land on different instances (each page has its own cookies;
// the front door spreads new browsers); carol is a script (@microsoft/signalr, no reconnect) on bob's instance. The script
// kills bob's instance with SIGKILL (the pid his page shows) and holds bob's reconnect while alice sends five messages.
// It checks that bob's page reconnects, through the same URL, to alice's instance and says so, and resumes (the page
// uses the npm resume helper): the five messages appear once each, in order, with no gap reported; that alice's page
// shows carol and the dead server leaving; that the launcher restarts the instance and alice's page shows its new
// server; and that a message from a page opened on the restarted instance reaches alice and bob (and theirs reach it).
import { fail, ok, run, signalR, step, withTimeout, STEP_TIMEOUT_MS } from "./lib.mjs";
import { assertNoPageErrors, expectMessage, roomMessages, saveScreenshots, send, withChromium } from "./browser-lib.mjs";

const [frontDoor, url1, url2, artifactDir] = process.argv.slice(2);
if (!frontDoor || !url1 || !url2 || !artifactDir) {
  console.log("FAIL usage: node browser-failover.mjs <front door url> <instance 1 base url> <instance 2 base url> <artifact directory>");
  process.exit(2);
}
const instanceUrl = (instance) => (String(instance) === "1" ? url1 : url2);
const origin = (url) => new URL(url).origin;

/** How long the launcher may take to restart an instance. */
const PRESENCE_TIMEOUT_MS = 4 * STEP_TIMEOUT_MS;
/**
 * The dead process's users and server leave a page once a survivor reaps it, which the backplane pushes (no polling):
 * on Linux and macOS about a second after the kill (its lock file), elsewhere after the node timeout (10 s).
 */
const LEAVE_TIMEOUT_MS = STEP_TIMEOUT_MS;

await run((connections) => withChromium(artifactDir, async (session) => {
  let alice, bob;
  await step("open the front door's one URL as alice and as bob, on two instances; carol connects to bob's instance from a script", async () => {
    alice = await session.open(frontDoor, "alice", null);
    // The front door sends each new browser to the next instance; a page that landed on alice's tries again.
    for (let attempt = 1; ; attempt++) {
      bob = await session.open(frontDoor, "bob", null);
      if (bob.pid !== alice.pid) break;
      if (attempt === 6) fail(`bob's page landed on alice's process ${alice.pid} ${attempt} times; the front door does not spread new browsers`);
      session.pages.splice(session.pages.indexOf(bob), 1);
      await bob.context.close();
    }
    for (const opened of [alice, bob]) {
      if (origin(opened.page.url()) !== origin(frontDoor)) fail(`${opened.user}'s page is at ${opened.page.url()}, not at the front door ${frontDoor}`);
    }
    const carol = new signalR.HubConnectionBuilder().withUrl(`${instanceUrl(bob.instance).replace(/\/$/, "")}/hubs/chat?user=carol`)
      .configureLogging(signalR.LogLevel.Warning)
      .build();
    connections.push(carol);
    await withTimeout(carol.start(), "carol to connect to bob's instance");
    await withTimeout(carol.invoke("JoinRoom", "lobby"), "carol to join #lobby");
    await alice.page.locator('#online li[data-user="carol"]').waitFor();
    await alice.page.locator(`#servers li[data-pid="${bob.pid}"]`).waitFor();
    ok(`alice's page (instance ${alice.instance}, pid ${alice.pid}) lists carol online and bob's server (instance ${bob.instance}, pid ${bob.pid}), both pages at ${frontDoor}`);
  });

  const killedPid = Number(bob.pid);
  const killedInstance = bob.instance;
  const stamp = Date.now();
  const beforeKill = `before the kill (${stamp})`;
  const whileDead = [1, 2, 3, 4, 5].map((n) => `while bob's instance is dead ${n} (${stamp})`);
  await step("kill bob's instance with SIGKILL; messages sent while his page reconnects reach it once, in order; it says where it is", async () => {
    // Sends from alice's composer and waits until the send completed (the composer is cleared) and her page shows it.
    const sendFromAlice = async (text) => {
      await send(alice, text);
      await alice.page.waitForFunction(() => document.getElementById("message").value === "");
      await expectMessage(alice, "alice", text, alice.instance);
    };
    await sendFromAlice(beforeKill);
    await expectMessage(bob, "alice", beforeKill, alice.instance);
    // Hold bob's reconnect (its negotiate requests) until alice has sent while his instance is dead.
    let releaseNegotiate;
    const negotiateGate = new Promise((resolve) => (releaseNegotiate = resolve));
    const negotiateUrls = [];
    await bob.page.route(/\/hubs\/chat\/negotiate/, async (route) => {
      negotiateUrls.push(route.request().url());
      await negotiateGate;
      await route.continue();
    });
    process.kill(killedPid, "SIGKILL");
    ok(`killed bob's instance (instance ${killedInstance}, pid ${killedPid}) with SIGKILL`);
    await bob.page.locator('#status[data-state="reconnecting"]').waitFor();
    for (const text of whileDead) await sendFromAlice(text);
    releaseNegotiate();
    await bob.page.locator(`#instance[data-instance="${alice.instance}"]`).waitFor();
    await bob.page.locator('#status[data-state="connected"]').waitFor();
    const badge = await bob.page.locator("#instance").textContent();
    if (!badge.includes(`pid ${alice.pid}`) || !badge.includes(`page from instance ${killedInstance}`)) fail(`bob's page says ${JSON.stringify(badge)}`);
    await bob.page.locator('#messages li[data-kind="system"]', { hasText: `Reconnected to instance ${alice.instance}` }).waitFor();
    if (origin(bob.page.url()) !== origin(frontDoor)) fail(`bob's page moved to ${bob.page.url()}`);
    if (negotiateUrls.some((url) => origin(url) !== origin(frontDoor))) fail(`bob's page negotiated outside the front door: ${JSON.stringify(negotiateUrls)}`);
    bob.instance = alice.instance;
    ok(`bob's page reconnected to alice's instance through the same URL and shows "${badge.trim()}"`);
    // The page's resume helper presented a ticket (token.position), and the server replayed what he missed.
    if (!negotiateUrls.some((url) => /[?&]sqlitebackplane-resume=[^&]+\.\d+(&|$)/.test(url))) fail(`bob's page reconnected without a resume ticket: ${JSON.stringify(negotiateUrls)}`);
    await bob.page.unroute(/\/hubs\/chat\/negotiate/);
    await expectMessage(bob, "alice", whileDead.at(-1), alice.instance);
    const fromAlice = (await roomMessages(bob.page, "alice").locator(".text").allTextContents()).map((text) => text.trim()).filter((text) => text.endsWith(`(${stamp})`));
    if (JSON.stringify(fromAlice) !== JSON.stringify([beforeKill, ...whileDead])) fail(`bob's page shows alice's messages ${JSON.stringify(fromAlice)}; expected ${JSON.stringify([beforeKill, ...whileDead])}, each once, in order`);
    if ((await bob.page.locator("#messages li", { hasText: "could not be recovered" }).count()) !== 0) fail("bob's page reported a resume gap");
    ok(`bob's page shows the ${whileDead.length} messages alice sent while his instance was dead, each once, in order, after the one before the kill`);
  });

  await step("alice's page shows carol and the dead instance's server leaving, pushed by the backplane", async () => {
    const wait = { timeout: LEAVE_TIMEOUT_MS };
    await alice.page.locator('#messages li[data-kind="presence"][data-event="user-left"][data-user="carol"]').waitFor(wait);
    await alice.page.locator(`#messages li[data-kind="presence"][data-event="server-left"][data-pid="${killedPid}"]`).waitFor(wait);
    await alice.page.locator('#online li[data-user="carol"]').waitFor({ state: "detached", ...wait });
    await alice.page.locator(`#servers li[data-pid="${killedPid}"]`).waitFor({ state: "detached", ...wait });
    // Bob is listed again once his new connection's join reaches alice's page (pushed, then a presence refresh).
    await alice.page.locator('#online li[data-user="bob"]').waitFor(wait).catch(() => fail("alice's page no longer lists bob, who reconnected to her instance"));
    if ((await alice.page.locator('#online li[data-user="bob"]').count()) !== 1) fail("alice's page lists bob more than once");
    ok(`alice's page shows "carol left" and "Server pid ${killedPid} left", and still lists bob`);
  }, LEAVE_TIMEOUT_MS + STEP_TIMEOUT_MS);

  let restartedPid;
  await step("the launcher restarts the killed instance; alice's page shows its new server joining", async () => {
    restartedPid = await withTimeout(restartedInstance(instanceUrl(killedInstance), killedPid), "the launcher to restart the killed instance", PRESENCE_TIMEOUT_MS);
    await alice.page.locator(`#messages li[data-kind="presence"][data-event="server-came"][data-pid="${restartedPid}"]`).waitFor({ timeout: PRESENCE_TIMEOUT_MS });
    await alice.page.locator(`#servers li[data-pid="${restartedPid}"]`).waitFor();
    ok(`the killed instance is back as pid ${restartedPid}; alice's page shows "Server pid ${restartedPid} joined"`);
  }, PRESENCE_TIMEOUT_MS + 2 * STEP_TIMEOUT_MS);

  let dave;
  await step("dave opens the restarted instance; messages cross both ways", async () => {
    dave = await session.open(instanceUrl(killedInstance), "dave", killedInstance);
    if (Number(dave.pid) !== restartedPid) fail(`dave's page is served by pid ${dave.pid}; expected the restarted instance (pid ${restartedPid})`);
    const fromDave = `dave on the restarted instance (${Date.now()})`;
    await send(dave, fromDave);
    await expectMessage(alice, "dave", fromDave, killedInstance);
    await expectMessage(bob, "dave", fromDave, killedInstance);
    const fromAlice = `welcome back (${Date.now()})`;
    await send(alice, fromAlice);
    await expectMessage(dave, "alice", fromAlice, alice.instance);
    await expectMessage(bob, "alice", fromAlice, alice.instance);
    assertNoPageErrors(session);
    ok(`dave's message from the restarted instance reaches alice and bob, and alice's reaches dave; no page errors`);
  });

  await saveScreenshots(artifactDir, "failover", [alice, bob, dave]);
}));

/** Polls `<url>/api/instance` until another process than `killedPid` answers; returns its pid. */
async function restartedInstance(url, killedPid) {
  for (;;) {
    try {
      const response = await fetch(`${url.replace(/\/$/, "")}/api/instance`);
      const { processId } = await response.json();
      if (processId !== killedPid) return processId;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
