/*
 * @sqlite-backplane/signalr-resume: resume missed messages with @microsoft/signalr on a SqliteBackplane server.
 *
 * One file, no build step: CommonJS (require), a plain <script> (global `sqliteBackplaneResume`, after signalr.js),
 * and the ES module entry index.mjs re-exports it. The wire mechanism is described in docs/resume.md.
 *
 *   const builder = new signalR.HubConnectionBuilder().withUrl("/hubs/chat").withAutomaticReconnect();
 *   withSqliteBackplaneResume(builder, { onGap: (reason) => reloadState() });
 *   const connection = builder.build();
 *
 * What it does to the connection that builder builds:
 * - on every connect (first start, each automatic reconnect attempt, a manual start after close) it sets the
 *   `sqlitebackplane-resume` query parameter of the hub URL, whatever URL the application set: `1` until the server
 *   issued a token, then `<token>.<position>`;
 * - it wraps the hub protocol (the builder's, or JsonHubProtocol) to watch the server's invocations in arrival order:
 *   `sqlitebackplane:pos(id)` marks the next message, which commits the position when it arrives;
 *   `sqlitebackplane:token(token, position)` stores the token; `sqlitebackplane:gap(reason)` reports that resume
 *   was impossible. Reserved invocations still pass through the protocol (stateful reconnect counts them) and reach
 *   handlers the helper registers on the connection, never the application's.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) {
    module.exports = factory(() => require("@microsoft/signalr"));
  } else {
    root.sqliteBackplaneResume = factory(() => root.signalR);
  }
})(typeof self !== "undefined" ? self : this, function (loadSignalR) {
  "use strict";

  /** The query parameter that opts a connection in. */
  const RESUME_QUERY_PARAMETER = "sqlitebackplane-resume";
  const TOKEN_METHOD = "sqlitebackplane:token";
  const POSITION_METHOD = "sqlitebackplane:pos";
  const GAP_METHOD = "sqlitebackplane:gap";
  // HubConnection matches handlers by lower-cased name; the server sends the names above as they are.
  const RESERVED = new Set([TOKEN_METHOD, POSITION_METHOD, GAP_METHOD]);
  // @microsoft/signalr's MessageType.Invocation and LogLevel.Warning: protocol constants, stable across versions.
  const INVOCATION_MESSAGE = 1;
  const LOG_WARNING = 3;

  const states = new WeakMap();

  /** What one HubConnection has received: the token, the committed position and a marked but undelivered message. */
  class ResumeState {
    constructor() {
      this.token = null;
      this.position = 0;
      this.pending = null;
      this.gaps = 0;
      this.resumes = 0;
      this.connects = 0;
      this.ticketPresented = false;
    }

    /** The query parameter's value for the next connect. */
    ticket() {
      return this.token === null ? "1" : `${this.token}.${this.position}`;
    }

    /** A new transport connection begins: a marker of the previous one whose message never arrived is void. */
    beginConnect() {
      this.pending = null;
      this.connects++;
      this.ticketPresented = this.token !== null;
    }

    /**
     * Applies one parsed hub message in arrival order. Returns nothing; the message passes on unchanged.
     * Reserved invocations update the state; any other invocation without an invocation id (an ordinary send, not a
     * client-result call) commits a pending marker.
     */
    observe(message, logger) {
      if (!message || message.type !== INVOCATION_MESSAGE) {
        return;
      }
      const target = typeof message.target === "string" ? message.target.toLowerCase() : "";
      if (!RESERVED.has(target)) {
        if (!message.invocationId && this.pending !== null) {
          this.position = Math.max(this.position, this.pending);
          this.pending = null;
        }
        return;
      }
      const args = Array.isArray(message.arguments) ? message.arguments : [];
      if (target === POSITION_METHOD) {
        const id = toPosition(args[0]);
        if (id === null) {
          warn(logger, `Ignoring ${POSITION_METHOD} with a position that is not a non-negative integer: ${String(args[0])}.`);
          return;
        }
        this.pending = id;
      } else if (target === TOKEN_METHOD) {
        const id = toPosition(args[1]);
        if (typeof args[0] !== "string" || args[0].length === 0 || id === null) {
          warn(logger, `Ignoring ${TOKEN_METHOD} without a token string and a position.`);
          return;
        }
        this.token = args[0];
        this.position = Math.max(this.position, id);
        this.pending = null;
      } else {
        // Resume was impossible: the server starts this connection fresh and sends a new token next.
        this.token = null;
        this.position = 0;
        this.pending = null;
      }
    }
  }

  function toPosition(value) {
    const number = typeof value === "bigint" ? Number(value) : value;
    return Number.isSafeInteger(number) && number >= 0 ? number : null;
  }

  function warn(logger, text) {
    if (logger && typeof logger.log === "function") {
      logger.log(LOG_WARNING, `SqliteBackplane resume: ${text}`);
    }
  }

  /** Wraps a hub protocol: same name, version, format and bytes; parsed messages are shown to `state` in order. */
  function wrapProtocol(inner, state) {
    return {
      get name() {
        return inner.name;
      },
      get version() {
        return inner.version;
      },
      get transferFormat() {
        return inner.transferFormat;
      },
      parseMessages(input, logger) {
        const messages = inner.parseMessages(input, logger);
        for (const message of messages) {
          state.observe(message, logger);
        }
        return messages;
      },
      writeMessage(message) {
        return inner.writeMessage(message);
      },
    };
  }

  /** `url` with the resume query parameter set to `value` (any previous value removed; a fragment kept). */
  function withResumeParameter(url, value) {
    const hashAt = url.indexOf("#");
    const fragment = hashAt >= 0 ? url.slice(hashAt) : "";
    const withoutFragment = hashAt >= 0 ? url.slice(0, hashAt) : url;
    const queryAt = withoutFragment.indexOf("?");
    const path = queryAt >= 0 ? withoutFragment.slice(0, queryAt) : withoutFragment;
    const kept = queryAt >= 0
      ? withoutFragment.slice(queryAt + 1).split("&").filter((part) => part !== "" && part.split("=")[0] !== RESUME_QUERY_PARAMETER)
      : [];
    kept.push(`${RESUME_QUERY_PARAMETER}=${encodeURIComponent(value)}`);
    return `${path}?${kept.join("&")}${fragment}`;
  }

  function defaultProtocol() {
    const signalR = loadSignalR();
    if (!signalR || typeof signalR.JsonHubProtocol !== "function") {
      throw new Error("withSqliteBackplaneResume found no hub protocol: the builder has none (withHubProtocol) and @microsoft/signalr's JsonHubProtocol is not available (load signalr.js before this file in a page). Call withHubProtocol(new signalR.JsonHubProtocol()) on the builder, or make @microsoft/signalr available.");
    }
    return new signalR.JsonHubProtocol();
  }

  /** Hooks `connection` so that every connect carries the current ticket, and registers the reserved handlers. */
  function attach(connection, state, options) {
    // HubConnection starts its IConnection (HttpConnection) for the first start, for every automatic reconnect
    // attempt and for a manual start after close, always reading HttpConnection.baseUrl then. Setting the parameter
    // right there keeps it on whatever URL the application chose (for example another server in a retry policy),
    // and carries the newest ticket even when an attempt received messages and then failed.
    const transport = connection.connection;
    if (!transport || typeof transport.start !== "function" || typeof transport.baseUrl !== "string") {
      throw new Error("withSqliteBackplaneResume does not support this version of @microsoft/signalr: the HubConnection has no HttpConnection it can add the resume ticket to. Use @microsoft/signalr 8 or later.");
    }
    const start = transport.start;
    transport.start = function (transferFormat) {
      state.beginConnect();
      transport.baseUrl = withResumeParameter(transport.baseUrl, state.ticket());
      return start.call(transport, transferFormat);
    };
    // The counters and onGap live in handlers: HubConnection runs each message's handlers once, after stateful
    // reconnect dropped what the server resent (the protocol wrapper sees resent messages again).
    connection.on(TOKEN_METHOD, () => {
      if (state.ticketPresented) {
        // A token on a connect that presented a ticket, without a gap: the old connection was resumed.
        state.resumes++;
        state.ticketPresented = false;
      }
    });
    connection.on(POSITION_METHOD, () => {});
    // onGap runs from the handler so that it runs in message order with the application's handlers.
    connection.on(GAP_METHOD, (reason) => {
      state.gaps++;
      state.ticketPresented = false;
      if (typeof options.onGap === "function") {
        options.onGap(String(reason));
      }
    });
    states.set(connection, state);
  }

  /**
   * Makes the connections that `builder` builds resume missed messages on a SqliteBackplane server with
   * `EnableResume`. Call it before `build()`, once per builder; returns the builder.
   * @param builder a HubConnectionBuilder (withUrl, and optionally withHubProtocol and withAutomaticReconnect)
   * @param options `onGap(reason)`: resume was impossible (reasons in docs/resume.md); reload the application's state
   */
  function withSqliteBackplaneResume(builder, options) {
    if (!builder || typeof builder.build !== "function") {
      throw new TypeError("withSqliteBackplaneResume needs a HubConnectionBuilder as its first argument.");
    }
    const settings = options || {};
    if (settings.onGap !== undefined && typeof settings.onGap !== "function") {
      throw new TypeError("withSqliteBackplaneResume: options.onGap must be a function (reason) => void.");
    }
    if (builder.build.sqliteBackplaneResume) {
      throw new Error("withSqliteBackplaneResume was already called on this builder; call it once.");
    }
    const build = builder.build;
    const patched = function () {
      const state = new ResumeState();
      const configured = this.protocol;
      this.protocol = wrapProtocol(configured || defaultProtocol(), state);
      let connection;
      try {
        connection = build.call(this);
      } finally {
        this.protocol = configured;
      }
      attach(connection, state, settings);
      return connection;
    };
    patched.sqliteBackplaneResume = true;
    builder.build = patched;
    return builder;
  }

  /**
   * What the helper knows about a connection built with it: the last token, the committed position, and how many
   * connects, resumes (a token after a ticket, without a gap) and gaps it saw; undefined for other connections.
   */
  function getSqliteBackplaneResumeState(connection) {
    const state = states.get(connection);
    return state === undefined
      ? undefined
      : { token: state.token, position: state.position, connects: state.connects, resumes: state.resumes, gaps: state.gaps };
  }

  return {
    RESUME_QUERY_PARAMETER,
    withSqliteBackplaneResume,
    getSqliteBackplaneResumeState,
    // For the package's own tests: the protocol wrapper and the URL rewrite without a connection.
    _internals: { ResumeState, wrapProtocol, withResumeParameter },
  };
});
