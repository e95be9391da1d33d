namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// One unit of work for the writer loop. <see cref="Execute"/> runs on the writer thread inside a transaction shared
/// with every other operation queued at the same time (group commit); <see cref="Complete"/> or <see cref="Fail"/>
/// runs once that transaction has committed or failed. Continuations never run on the writer thread.
/// </summary>
internal abstract class WriteOperation
{
    /// <summary>
    /// The highest log id this node had appended once this operation ran (its own row, or an earlier one). A direct
    /// send waits for the reader to pass it, so it cannot overtake anything queued before it.
    /// </summary>
    public long LogPosition => Volatile.Read(ref _logPosition);

    /// <summary>Whether <see cref="LogPosition"/> is final: set on the writer thread before the commit makes the row visible.</summary>
    public bool IsPositioned => Volatile.Read(ref _positioned);

    private long _logPosition;
    private bool _positioned;

    public void Execute(WriterContext context)
    {
        ExecuteCore(context);
        Volatile.Write(ref _logPosition, context.LastAppendedId);
        Volatile.Write(ref _positioned, true);
    }

    /// <summary>After a rollback, the rows this operation appended do not exist: point at what precedes them.</summary>
    public void ResetPosition(long position)
    {
        Volatile.Write(ref _logPosition, position);
        Volatile.Write(ref _positioned, true);
    }

    protected abstract void ExecuteCore(WriterContext context);

    public abstract void Complete();

    public abstract void Fail(Exception exception);

    /// <summary>A task that completes (successfully or not) with the operation.</summary>
    public abstract Task Completion { get; }
}

/// <summary>A write operation whose caller awaits a result.</summary>
internal abstract class WriteOperation<TResult> : WriteOperation
{
    private readonly TaskCompletionSource<TResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TResult _result = default!;
    private Exception? _rejection;

    public Task<TResult> Task => _completion.Task;

    /// <summary>Fails this operation alone once the batch commits, without breaking the shared transaction.</summary>
    protected void Reject(Exception exception) => _rejection = exception;

    public override Task Completion => _completion.Task;

    protected sealed override void ExecuteCore(WriterContext context)
    {
        _rejection = null;
        _result = Run(context);
    }

    protected abstract TResult Run(WriterContext context);

    public override void Complete()
    {
        if (_rejection is not null)
        {
            _completion.TrySetException(_rejection);
        }
        else
        {
            _completion.TrySetResult(_result);
        }
    }

    public override void Fail(Exception exception) => _completion.TrySetException(exception);
}

/// <summary>Any write expressed as a delegate; used by operations that need no class of their own.</summary>
internal sealed class DelegateWriteOperation<TResult>(Func<WriterContext, TResult> run) : WriteOperation<TResult>
{
    protected override TResult Run(WriterContext context) => run(context);
}
