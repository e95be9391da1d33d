// The chat sample in Debian's Chromium, driven by playwright-core (which never downloads a browser here).
// Usage: node browser-chat.mjs <instance 1 base url> <instance 2 base url> <artifact directory>
// Opens the page on instance 1 as alice and on instance 2 as bob, sends a #lobby message from each page, checks
// it appears exactly once on the other (served by the other process), filters alice's timeline by room, and saves
// screenshots of both pages.
import { fail, ok, run, step } from "./lib.mjs";
import { assertNoPageErrors, expectMessage, roomMessages, saveScreenshots, send, withChromium } from "./browser-lib.mjs";

const [url1, url2, artifactDir] = process.argv.slice(2);
if (!url1 || !url2 || !artifactDir) {
  console.log("FAIL usage: node browser-chat.mjs <instance 1 base url> <instance 2 base url> <artifact directory>");
  process.exit(2);
}

await run(() => withChromium(artifactDir, async (session) => {
  let alice, bob;
  await step("open the sample on instance 1 (alice) and instance 2 (bob)", async () => {
    [alice, bob] = await Promise.all([session.open(url1, "alice", "1"), session.open(url2, "bob", "2")]);
    if (alice.pid === bob.pid) fail(`both pages were served by process ${alice.pid}; expected two processes`);
    ok(`alice's page is served by instance 1 (pid ${alice.pid}), bob's by instance 2 (pid ${bob.pid}); both joined #lobby`);
  });

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
    assertNoPageErrors(session);
    ok("1 message from alice and 1 from bob on each page; no page errors");
  });

  await step("alice joins #random, writes there, and filters her timeline by room", async () => {
    const inRandom = `alice in #random (${Date.now()})`;
    await alice.page.locator("#room").fill("random");
    await alice.page.locator("#join").click();
    await alice.page.locator("#target", { hasText: "#random" }).waitFor();
    await send(alice, inRandom);
    await expectMessage(alice, "alice", inRandom, 1, "random");

    const visibleRooms = async () => alice.page.locator("#messages li[data-room]:visible").evaluateAll((items) => [...new Set(items.map((item) => item.dataset.room))].sort());
    const expectShown = async (filter, expected) => {
      await alice.page.locator("#filter").selectOption(filter);
      const shown = await visibleRooms();
      if (JSON.stringify(shown) !== JSON.stringify(expected)) fail(`with the filter on '${filter}', alice's timeline shows rooms ${JSON.stringify(shown)}; expected ${JSON.stringify(expected)}`);
    };
    await expectShown("random", ["random"]);
    await expectShown("lobby", ["lobby"]);
    await expectShown("", ["lobby", "random"]);
    ok("alice's timeline filtered to #random shows only #random, to #lobby only #lobby, unfiltered both");
  });

  await saveScreenshots(artifactDir, "chat", [alice, bob]);
}));
