using System;
using System.Collections.Generic;
using System.Management.Automation;
using System.Threading;
using MailProtocols.Engine;

namespace MailProtocols;

/// <summary>
/// Base of every cmdlet here: a cancellation token that Ctrl+C (StopProcessing) cancels and that
/// every network call receives, and the one place engine errors become ErrorRecords.
/// </summary>
public abstract class CancellablePSCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _cancellation = new();

    protected CancellationToken CancelToken => _cancellation.Token;

    protected override void StopProcessing() => _cancellation.Cancel();

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _cancellation.Dispose();
        }
    }

    /// <summary>Builds the ErrorRecord for an engine error: its stable ErrorId, the category its
    /// kind maps to, and the value it concerns as target.</summary>
    protected static ErrorRecord ToErrorRecord(MailOperationException ex) =>
        new(ex, ex.ErrorId, ToCategory(ex.Kind), ex.Target);

    /// <summary>Writes a per-item error, or stops the command when the session itself failed.</summary>
    protected void ReportError(MailOperationException ex)
    {
        if (ex.IsSessionFailure)
        {
            ThrowTerminatingError(ToErrorRecord(ex));
        }

        WriteError(ToErrorRecord(ex));
    }

    /// <summary>Runs engine work, turning cancellation into the pipeline's own stop.</summary>
    protected T Guard<T>(Func<T> work)
    {
        try
        {
            return work();
        }
        catch (OperationCanceledException) when (CancelToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>Enumerates engine results, turning cancellation into the pipeline's own stop.</summary>
    protected IEnumerable<T> GuardEach<T>(IEnumerable<T> source)
    {
        using var enumerator = Guard(source.GetEnumerator);
        while (Guard(enumerator.MoveNext))
        {
            yield return enumerator.Current;
        }
    }

    /// <inheritdoc cref="Guard{T}(Func{T})"/>
    protected void Guard(Action work) => Guard(() =>
    {
        work();
        return true;
    });

    private static ErrorCategory ToCategory(MailErrorKind kind) => kind switch
    {
        MailErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        MailErrorKind.ObjectNotFound => ErrorCategory.ObjectNotFound,
        MailErrorKind.ConnectionError => ErrorCategory.ConnectionError,
        MailErrorKind.SecurityError => ErrorCategory.SecurityError,
        MailErrorKind.AuthenticationError => ErrorCategory.AuthenticationError,
        MailErrorKind.ProtocolError => ErrorCategory.ProtocolError,
        MailErrorKind.ResourceUnavailable => ErrorCategory.ResourceUnavailable,
        MailErrorKind.ResourceBusy => ErrorCategory.ResourceBusy,
        MailErrorKind.OperationTimeout => ErrorCategory.OperationTimeout,
        MailErrorKind.NotImplemented => ErrorCategory.NotImplemented,
        MailErrorKind.WriteError => ErrorCategory.WriteError,
        _ => ErrorCategory.InvalidOperation,
    };
}
