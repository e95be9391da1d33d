// Shared helpers of the end-to-end Node scripts: steps with timeouts, inboxes that record what a client received,
// and loud failures. Each script prints "OK <what>" per check and exits 0 after "PASS", or prints "FAIL <details>"
// and exits 1. The xunit tests in tests/SqliteBackplane.Tests/EndToEnd run them and assert on both.
import * as signalR from "@microsoft/signalr";
import WebSocket from "ws";

export { signalR };

/** How long one step may take: long enough for a loaded 2-core CI machine; a correct run needs milliseconds. */
export const STEP_TIMEOUT_MS = Number(process.env.E2E_STEP_TIMEOUT_MS || 15000);

export class CheckFailed extends Error {}

export function fail(message) {
  throw new CheckFailed(message);
}

export function ok(what) {
  console.log(`OK ${what}`);
}

/** Rejects with a message naming `what` if `promise` does not settle within `ms`. */
export function withTimeout(promise, what, ms = STEP_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailed(`timed out after ${ms} ms waiting for: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs one named step under a backstop timeout. Each wait inside a step has its own STEP_TIMEOUT_MS timeout that
 * reports what was expected and what arrived; the backstop only catches anything else that hangs.
 */
export async function step(name, body, timeoutMs = 4 * STEP_TIMEOUT_MS) {
  console.log(`STEP ${name}`);
  await withTimeout(Promise.resolve().then(body), `step '${name}'`, timeoutMs);
}

/** Everything one client received for one client method, in arrival order, with a read position. */
export class Inbox {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.read = 0;
    this.waiters = [];
  }

  push(item) {
    this.items.push(item);
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Waits for and returns the next `count` unread items. */
  async take(count = 1) {
    try {
      await withTimeout(
        (async () => {
          while (this.items.length < this.read + count) {
            await new Promise((resolve) => this.waiters.push(resolve));
          }
        })(),
        `${this.name} to receive ${count} more message(s)`,
      );
    } catch (error) {
      fail(`${error.message}; it had read ${JSON.stringify(this.items.slice(0, this.read))} and has ${JSON.stringify(this.items.slice(this.read))} unread`);
    }
    const taken = this.items.slice(this.read, this.read + count);
    this.read += count;
    return taken;
  }

  /** Asserts the next unread items are exactly `expected`, in order. */
  async expect(...expected) {
    const actual = await this.take(expected.length);
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      fail(`${this.name} expected ${JSON.stringify(expected)} but received ${JSON.stringify(actual)} (all so far: ${JSON.stringify(this.items)})`);
    }
  }
}

/**
 * Connects to the TestServer's TestHub at `baseUrl` as `user` with the JSON protocol over WebSockets (negotiated),
 * recording Receive messages in `client.inbox`.
 */
export async function connectTestHub(baseUrl, user, { configure, httpOptions } = {}) {
  const url = `${baseUrl.replace(/\/$/, "")}/hubs/test?user=${encodeURIComponent(user)}`;
  let builder = new signalR.HubConnectionBuilder()
    .withUrl(url, { transport: signalR.HttpTransportType.WebSockets, ...httpOptions })
    .withHubProtocol(new signalR.JsonHubProtocol())
    .configureLogging(signalR.LogLevel.Warning);
  if (configure) builder = configure(builder);
  const connection = builder.build();
  const name = `${user}@${baseUrl}`;
  const inbox = new Inbox(name);
  connection.on("Receive", (message) => inbox.push(message));
  await withTimeout(connection.start(), `${name} to connect`);
  const connectionId = await withTimeout(connection.invoke("GetConnectionId"), `${name} GetConnectionId`);
  return { connection, inbox, name, user, connectionId, invoke: (method, ...args) => withTimeout(connection.invoke(method, ...args), `${name} invoking ${method}`) };
}

/**
 * Returns a new WebSocket class (the `ws` package) whose sockets the test can drop like a network failure, and whose
 * connecting can be held behind a gate. Pass it as the `WebSocket` HTTP option of one client: the SignalR client
 * constructs one per transport connection (each reconnect, including a stateful one); the class records them all in
 * `instances`, calls `onCreated(socket)` for each, and holds each one's connecting until `gate` (if set) resolves.
 */
export function createDroppableWebSocket() {
  return class DroppableWebSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    static instances = [];
    static gate = null;
    static onCreated = () => {};

    constructor(url, protocols, options) {
      this.url = url;
      this.onopen = this.onmessage = this.onerror = this.onclose = null;
      this.inner = null;
      this.closeRequested = false;
      this.opened = new Promise((resolve) => (this.markOpened = resolve));
      DroppableWebSocket.instances.push(this);
      const gate = DroppableWebSocket.gate ?? Promise.resolve();
      DroppableWebSocket.onCreated(this);
      gate.then(() => {
        if (this.closeRequested) {
          this.onclose?.({ code: 1006, reason: "closed before connecting", wasClean: false });
          return;
        }
        const socket = new WebSocket(url, protocols, options);
        if (this.requestedBinaryType) socket.binaryType = this.requestedBinaryType;
        socket.onopen = (event) => {
          this.markOpened();
          this.onopen?.(event);
        };
        socket.onmessage = (event) => this.onmessage?.(event);
        socket.onerror = (event) => this.onerror?.(event);
        socket.onclose = (event) => this.onclose?.(event);
        this.inner = socket;
      });
    }

    get readyState() {
      return this.inner ? this.inner.readyState : DroppableWebSocket.CONNECTING;
    }

    get binaryType() {
      return this.inner ? this.inner.binaryType : this.requestedBinaryType;
    }

    set binaryType(value) {
      this.requestedBinaryType = value;
      if (this.inner) this.inner.binaryType = value;
    }

    send(data) {
      this.inner.send(data);
    }

    close(code, reason) {
      if (this.inner) this.inner.close(code, reason);
      else this.closeRequested = true;
    }

    /** Destroys the TCP connection at once: no close frame, as when the network fails. */
    drop() {
      this.inner.terminate();
    }
  }
}

/** Runs `main`, prints PASS or FAIL with details, stops the given connections, and sets the exit code. */
export async function run(main) {
  const connections = [];
  let exitCode = 0;
  try {
    await main(connections);
    console.log("PASS");
  } catch (error) {
    exitCode = 1;
    console.log(`FAIL ${error instanceof CheckFailed ? error.message : error?.stack || error}`);
  } finally {
    await Promise.allSettled(connections.map((c) => withTimeout(c.stop(), "connection to stop", 5000)));
  }
  process.exit(exitCode);
}
