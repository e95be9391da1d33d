// The chat sample's failover in Debian's Chromium, driven by playwright-core, against the sample's launcher.
// Usage: node browser-failover.mjs <instance 1 base url> <instance 2 base url> <artifact directory>
// alice's page is on instance 1, bob's on instance 2, and carol is a script (@microsoft/signalr, no reconnect) on
// instance 2. The script kills instance 2 with SIGKILL (the pid bob's page shows) and checks that bob's page
// reconnects to instance 1 and says so, that alice's page shows carol and instance 2's server leaving, that the
// launcher restarts instance 2 and alice's page shows its new server, and that a message from a page opened on the
// restarted instance reaches alice and bob (and theirs reach it).
import { fail, ok, run, signalR, step, withTimeout, STEP_TIMEOUT_MS } from "./lib.mjs";
import { assertNoPageErrors, expectMessage, saveScreenshots, send, withChromium } from "./browser-lib.mjs";

const [url1, url2, artifactDir] = process.argv.slice(2);
if (!url1 || !url2 || !artifactDir) {
  console.log("FAIL usage: node browser-failover.mjs <instance 1 base url> <instance 2 base url> <artifact directory>");
  process.exit(2);
}

/** How long the launcher may take to restart an instance. */
const PRESENCE_TIMEOUT_MS = 4 * STEP_TIMEOUT_MS;
/**
 * The dead process's users and server leave a page once a survivor reaps it, which the backplane pushes (no polling):
 * on Linux and macOS about a second after the kill (its lock file), elsewhere after the node timeout (10 s).
 */
const LEAVE_TIMEOUT_MS = STEP_TIMEOUT_MS;

await run((connections) => withChromium(artifactDir, async (session) => {
  let alice, bob;
  await step("open the sample on instance 1 (alice) and instance 2 (bob); carol connects to instance 2 from a script", async () => {
    [alice, bob] = await Promise.all([session.open(url1, "alice", "1"), session.open(url2, "bob", "2")]);
    if (alice.pid === bob.pid) fail(`both pages were served by process ${alice.pid}; expected two processes`);
    const carol = new signalR.HubConnectionBuilder().withUrl(`${url2.replace(/\/$/, "")}/hubs/chat?user=carol`)
      .configureLogging(signalR.LogLevel.Warning)
      .build();
    connections.push(carol);
    await withTimeout(carol.start(), "carol to connect to instance 2");
    await withTimeout(carol.invoke("JoinRoom", "lobby"), "carol to join #lobby");
    await alice.page.locator('#online li[data-user="carol"]').waitFor();
    await alice.page.locator(`#servers li[data-pid="${bob.pid}"]`).waitFor();
    ok(`alice's page (instance 1, pid ${alice.pid}) lists carol online and instance 2's server (pid ${bob.pid})`);
  });

  const killedPid = Number(bob.pid);
  await step("kill instance 2 with SIGKILL; bob's page reconnects to instance 1 and says so", async () => {
    process.kill(killedPid, "SIGKILL");
    ok(`killed instance 2 (pid ${killedPid}) with SIGKILL`);
    await bob.page.locator('#instance[data-instance="1"]').waitFor();
    await bob.page.locator('#status[data-state="connected"]').waitFor();
    const badge = await bob.page.locator("#instance").textContent();
    if (!badge.includes(`pid ${alice.pid}`) || !badge.includes("page from instance 2")) fail(`bob's page says ${JSON.stringify(badge)}`);
    await bob.page.locator('#messages li[data-kind="system"]', { hasText: "Reconnected to instance 1" }).waitFor();
    bob.instance = "1";
    ok(`bob's page reconnected to instance 1 and shows "${badge.trim()}"`);
  });

  await step("alice's page shows carol and instance 2's server leaving, pushed by the backplane", async () => {
    const wait = { timeout: LEAVE_TIMEOUT_MS };
    await alice.page.locator('#messages li[data-kind="presence"][data-event="user-left"][data-user="carol"]').waitFor(wait);
    await alice.page.locator(`#messages li[data-kind="presence"][data-event="server-left"][data-pid="${killedPid}"]`).waitFor(wait);
    await alice.page.locator('#online li[data-user="carol"]').waitFor({ state: "detached", ...wait });
    await alice.page.locator(`#servers li[data-pid="${killedPid}"]`).waitFor({ state: "detached", ...wait });
    if ((await alice.page.locator('#online li[data-user="bob"]').count()) !== 1) fail("alice's page no longer lists bob, who reconnected to instance 1");
    ok(`alice's page shows "carol left" and "Server pid ${killedPid} left", and still lists bob`);
  }, LEAVE_TIMEOUT_MS + STEP_TIMEOUT_MS);

  let restartedPid;
  await step("the launcher restarts instance 2; alice's page shows its new server joining", async () => {
    restartedPid = await withTimeout(restartedInstance(url2, killedPid), "the launcher to restart instance 2", PRESENCE_TIMEOUT_MS);
    await alice.page.locator(`#messages li[data-kind="presence"][data-event="server-came"][data-pid="${restartedPid}"]`).waitFor({ timeout: PRESENCE_TIMEOUT_MS });
    await alice.page.locator(`#servers li[data-pid="${restartedPid}"]`).waitFor();
    ok(`instance 2 is back as pid ${restartedPid}; alice's page shows "Server pid ${restartedPid} joined"`);
  }, PRESENCE_TIMEOUT_MS + 2 * STEP_TIMEOUT_MS);

  let dave;
  await step("dave opens the restarted instance 2; messages cross both ways", async () => {
    dave = await session.open(url2, "dave", "2");
    if (Number(dave.pid) !== restartedPid) fail(`dave's page is served by pid ${dave.pid}; expected the restarted instance 2 (pid ${restartedPid})`);
    const fromDave = `dave on the restarted instance 2 (${Date.now()})`;
    await send(dave, fromDave);
    await expectMessage(alice, "dave", fromDave, 2);
    await expectMessage(bob, "dave", fromDave, 2);
    const fromAlice = `welcome back, instance 2 (${Date.now()})`;
    await send(alice, fromAlice);
    await expectMessage(dave, "alice", fromAlice, 1);
    await expectMessage(bob, "alice", fromAlice, 1);
    assertNoPageErrors(session);
    ok(`dave's message from the restarted instance 2 reaches alice and bob, and alice's reaches dave; no page errors`);
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
