using SqliteBackplane.Internal.Messaging;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Internal.Diagnostics;
using SqliteBackplane.Internal.Flow;

namespace SqliteBackplane.Internal.Delivery;

/// <summary>
/// What local delivery needs from the node it runs in. Delivery owns this contract and the node implements it, so
/// Delivery depends on nothing above it.
/// </summary>
internal interface IDeliveryNode
{
    string NodeId { get; }

    BackplaneMetrics Metrics { get; }

    /// <summary>Paces senders by delivery: told of every write to a local connection that starts and completes.</summary>
    SendAdmission Admission { get; }

    /// <summary>Encrypts and decrypts payloads; null when no keys are configured.</summary>
    PayloadProtection? Protection { get; }

    /// <summary>Queues a write (a client-result completion row) and returns its result once committed.</summary>
    Task<T> WriteAsync<T>(WriteOperation<T> operation);

    /// <summary>Issues and checks resume tokens.</summary>
    ResumeTokens ResumeTokens { get; }

    /// <summary>The file, for reads of the log apart from the reader's tail (a resume's replay, <see cref="ReplayRows"/>).</summary>
    BackplaneDatabase Database { get; }

    /// <summary>Runs a direct write to a local connection once every row this node queued before has been dispatched.</summary>
    void RunAfterOwnWrites(Action write);
}
