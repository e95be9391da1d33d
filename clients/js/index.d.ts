import type { HubConnection, HubConnectionBuilder } from "@microsoft/signalr";

/** The hub URL query parameter that opts a connection in to resume (`1`, or `<token>.<position>` on a reconnect). */
export declare const RESUME_QUERY_PARAMETER: "sqlitebackplane-resume";

/** Options of {@link withSqliteBackplaneResume}. */
export interface SqliteBackplaneResumeOptions {
    /**
     * Called when the server could not resume the old connection (window passed, log rows gone, other user, invalid
     * token, another live connection resumed it, replay too long, log unreadable): messages may have been missed and
     * the new connection is in no group, so reload the application's state and join its groups again.
     * Runs in message order with the application's handlers, before any message of the new connection.
     * Reasons: "expired", "truncated", "user", "token", "resumed", "overflow", "failed" (treat unknown ones alike).
     */
    onGap?: (reason: string) => void;
}

/** What the helper knows about one connection (for diagnostics and tests). */
export interface SqliteBackplaneResumeState {
    /** The last token the server issued, or null before the first one (and after a gap until the next). */
    readonly token: string | null;
    /** The last log position received in full. */
    readonly position: number;
    /** Transport connects begun: the first start, each automatic reconnect attempt, each manual start. */
    readonly connects: number;
    /** Reconnects on which the server resumed the old connection. */
    readonly resumes: number;
    /** Reconnects on which resume was impossible (onGap was called). */
    readonly gaps: number;
}

/**
 * Makes the connections that `builder` builds resume missed messages on a SqliteBackplane server with
 * `EnableResume`: on every (re)connect, to any server process on the same backplane file, the connection first
 * receives every message its previous connection missed, exactly once and in order. Works with automatic reconnect
 * and with a manual `start()` after close, with the JSON and MessagePack protocols. Call it once, before `build()`.
 * The application's `on(...)` handlers stay as they are.
 */
export declare function withSqliteBackplaneResume(builder: HubConnectionBuilder, options?: SqliteBackplaneResumeOptions): HubConnectionBuilder;

/** The resume state of a connection built with the helper; undefined for any other connection. */
export declare function getSqliteBackplaneResumeState(connection: HubConnection): SqliteBackplaneResumeState | undefined;
