// Node @microsoft/signalr (JSON protocol) against two SqliteBackplane server processes on one file.
// Usage: node node-client.mjs <server1 base url> <server2 base url>
// Checks SendAll, groups, users and a client result across the two processes; prints OK per check, then PASS,
// or FAIL with what was expected and what arrived (exit code 1).
import { connectTestHub, fail, ok, run, step } from "./lib.mjs";

const [url1, url2] = process.argv.slice(2);
if (!url1 || !url2) {
  console.log("FAIL usage: node node-client.mjs <server1 base url> <server2 base url>");
  process.exit(2);
}

await run(async (connections) => {
  let alice, bob, carol, bob2;
  await step("connect alice and bob2 to server 1, bob and carol to server 2", async () => {
    [alice, bob2, bob, carol] = await Promise.all([
      connectTestHub(url1, "alice"),
      connectTestHub(url1, "bob"),
      connectTestHub(url2, "bob"),
      connectTestHub(url2, "carol"),
    ]);
    connections.push(alice.connection, bob2.connection, bob.connection, carol.connection);
    ok(`4 connections (JSON protocol, WebSockets): alice ${alice.connectionId}, bob2 ${bob2.connectionId} on ${url1}; bob ${bob.connectionId}, carol ${carol.connectionId} on ${url2}`);
  });
  const everyone = () => [alice, bob2, bob, carol];

  await step("SendAll from each server reaches every client once", async () => {
    await alice.invoke("SendAll", "all-1 from server 1");
    await Promise.all(everyone().map((c) => c.inbox.expect("all-1 from server 1")));
    await carol.invoke("SendAll", "all-2 from server 2");
    await Promise.all(everyone().map((c) => c.inbox.expect("all-2 from server 2")));
    ok("SendAll: 2 messages, each received exactly once by all 4 clients on both servers");
  });

  await step("groups across servers", async () => {
    // alice (server 1) adds bob's connection (server 2) and her own; carol (server 2) sends to the group.
    await alice.invoke("AddToGroup", bob.connectionId, "room-e2e");
    await alice.invoke("AddToGroup", alice.connectionId, "room-e2e");
    await carol.invoke("SendGroup", "room-e2e", "group-1");
    await carol.invoke("SendAll", "marker-1");
    await alice.inbox.expect("group-1", "marker-1");
    await bob.inbox.expect("group-1", "marker-1");
    await carol.inbox.expect("marker-1");
    await bob2.inbox.expect("marker-1");
    ok("SendGroup from server 2: members on both servers got 'group-1'; non-members got only the later marker");

    await alice.invoke("RemoveFromGroup", bob.connectionId, "room-e2e");
    await bob2.invoke("SendGroup", "room-e2e", "group-2");
    await bob2.invoke("SendAll", "marker-2");
    await alice.inbox.expect("group-2", "marker-2");
    await bob.inbox.expect("marker-2");
    await carol.inbox.expect("marker-2");
    await bob2.inbox.expect("marker-2");
    ok("RemoveFromGroup across servers: after removal bob got only the marker, alice got 'group-2'");
  });

  await step("users across servers", async () => {
    await carol.invoke("SendUser", "bob", "user-1");
    await alice.invoke("SendUser", "carol", "user-2");
    await alice.invoke("SendAll", "marker-3");
    await bob.inbox.expect("user-1", "marker-3");
    await bob2.inbox.expect("user-1", "marker-3");
    await carol.inbox.expect("user-2", "marker-3");
    await alice.inbox.expect("marker-3");
    ok("SendUser: both of bob's connections (server 1 and 2) got 'user-1', carol got 'user-2', alice only the marker");
  });

  await step("client results across servers", async () => {
    bob.connection.on("Compute", (x) => x * 2);
    bob2.connection.on("Compute", (x) => x * 3);
    const remote = await alice.invoke("InvokeClientResult", bob.connectionId, 21);
    if (remote !== 42) fail(`client result from bob on server 2 via server 1: expected 42, got ${JSON.stringify(remote)}`);
    const reverse = await carol.invoke("InvokeClientResult", bob2.connectionId, 7);
    if (reverse !== 21) fail(`client result from bob2 on server 1 via server 2: expected 21, got ${JSON.stringify(reverse)}`);
    let error;
    try {
      await alice.invoke("InvokeClientResult", "no-such-connection", 1);
    } catch (e) {
      error = e;
    }
    if (!error || !String(error.message).includes("IOException: Connection 'no-such-connection' does not exist.")) {
      fail(`client result for an unknown connection: expected an IOException "does not exist", got ${error ? JSON.stringify(error.message) : "a result"}`);
    }
    ok("client results: server 1 -> bob on server 2 returned 42; server 2 -> bob2 on server 1 returned 21; unknown connection failed at once with IOException");
  });
});
