// Resume clients behind a front door, for the chaos test (tests/SqliteBackplane.Tests/Deployment/FrontDoorChaosTests):
// each user connects to the one URL with the repository's resume helper over its transport, joins group "room",
// reconnects for ever (automatically, or by starting again when a stopping server closed the connection), and records
// every Receive message. The @microsoft/signalr client keeps the front door's affinity cookie in its own cookie jar.
// Usage: node listen.mjs <front door base url> <reporter user> <user:transport>...   (transport: ws, sse or lp)
// Once every user joined the room, "node-ready" is sent to the reporter user (the test's sender). When a user
// receives "END", its list is complete; once all are, the script prints "RECEIVED <user> <json array>" per user and
// "GAPS <user> <json array>" for any gap reported, then PASS.
import { withSqliteBackplaneResume } from "@sqlite-backplane/signalr-resume";
import { fail, ok, run, signalR, step, withTimeout } from "./lib.mjs";

const [baseUrl, reporter, ...specs] = process.argv.slice(2);
if (!baseUrl || !reporter || specs.length === 0) {
  console.log("FAIL usage: node listen.mjs <front door base url> <reporter user> <user:ws|sse|lp>...");
  process.exit(2);
}
const transports = { ws: signalR.HttpTransportType.WebSockets, sse: signalR.HttpTransportType.ServerSentEvents, lp: signalR.HttpTransportType.LongPolling };
/** How long after the last fault the END marker may take to arrive (the test sends it after the chaos). */
const END_TIMEOUT_MS = Number(process.env.E2E_LISTEN_TIMEOUT_MS || 300000);
const RETRY_MS = 100;

await run(async (connections) => {
  const listeners = [];
  await step(`connect ${specs.length} resume clients through ${baseUrl}`, async () => {
    for (const spec of specs) {
      const [user, transport] = spec.split(":");
      if (!transports[transport]) fail(`unknown transport in ${spec}`);
      const listener = { user, received: [], gaps: [], ended: null };
      listener.ended = new Promise((resolve) => (listener.end = resolve));
      const builder = new signalR.HubConnectionBuilder()
        .withUrl(`${baseUrl.replace(/\/$/, "")}/hubs/test?user=${encodeURIComponent(user)}`, { transport: transports[transport] })
        .withAutomaticReconnect({ nextRetryDelayInMilliseconds: () => RETRY_MS })
        .configureLogging(signalR.LogLevel.None);
      withSqliteBackplaneResume(builder, { onGap: (reason) => listener.gaps.push(reason) });
      const connection = builder.build();
      listener.connection = connection;
      connection.on("Receive", (message) => {
        if (message === "END") listener.end();
        else listener.received.push(message);
      });
      // A stopping server closes the connection without offering a reconnect: start again, through the front door.
      connection.onclose(async () => {
        while (!listener.stopping) {
          try {
            await connection.start();
            return;
          } catch {
            await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
          }
        }
      });
      await withTimeout(connection.start(), `${user} to connect`);
      const id = await withTimeout(connection.invoke("GetConnectionId"), `${user} GetConnectionId`);
      await withTimeout(connection.invoke("AddToGroup", id, "room"), `${user} to join the room`);
      listeners.push(listener);
      connections.push({ stop: () => ((listener.stopping = true), connection.stop()) });
    }
    await withTimeout(listeners[0].connection.invoke("SendUser", reporter, "node-ready"), "the ready report");
    ok(`${listeners.length} Node resume clients connected through the front door and joined the room`);
  });

  await step("receive until END", async () => {
    await Promise.all(listeners.map((listener) => withTimeout(listener.ended, `${listener.user} to receive END`, END_TIMEOUT_MS)));
    for (const listener of listeners) {
      console.log(`RECEIVED ${listener.user} ${JSON.stringify(listener.received)}`);
      if (listener.gaps.length > 0) console.log(`GAPS ${listener.user} ${JSON.stringify(listener.gaps)}`);
    }
    ok("every Node client received END");
  }, END_TIMEOUT_MS + 60000);
});
