using System;
using System.Collections.Generic;
using System.Management.Automation;
using System.Threading;
using MailProtocols.Engine;

namespace MailProtocols;

/// <summary>
/// Base of every cmdlet here: a cancellation token that Ctrl+C (StopProcessing) cancels and that
/// every network call receives, and how errors are written: always through WriteError, after a
/// session failure with the command taking no more work.
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

    /// <summary>The error after which this command takes no more work (the session failed, or
    /// nothing can be sent or fetched at all); null while it still works.</summary>
    protected ErrorRecord? StoppedBy { get; private set; }

    /// <summary>Writes an engine error. Errors go through WriteError, never ThrowTerminatingError,
    /// so -ErrorAction, -ErrorVariable, $? and $ErrorActionPreference all apply to them; a
    /// session failure also stops the command from taking more work.</summary>
    protected void ReportError(MailOperationException ex)
    {
        if (ex.IsSessionFailure)
        {
            StopWithError(ToErrorRecord(ex));
            return;
        }

        WriteError(ToErrorRecord(ex));
    }

    /// <summary>Writes the error of a failure after which nothing more can be done.</summary>
    protected void StopWithError(ErrorRecord record)
    {
        StoppedBy ??= record;
        WriteError(record);
    }

    /// <summary>The error for a piece of work refused because the command stopped earlier: it
    /// names the work, so a script can list exactly what was not done.</summary>
    protected ErrorRecord NotDoneError(string errorId, object? target, string what)
    {
        var cause = StoppedBy!;
        var id = cause.FullyQualifiedErrorId.Split(',')[0];
        return new ErrorRecord(
            new InvalidOperationException($"{what}: this command stopped after an earlier error ({id}: {cause.Exception.Message})", cause.Exception),
            errorId, cause.CategoryInfo.Category, target);
    }

    /// <summary>ShouldProcess, except that where the host cannot ask (pwsh -NonInteractive, a
    /// scheduled task, a host without a user interface) it writes a ConfirmationRequired error, stops the command and returns
    /// false, instead of raising an error that -ErrorAction does not see.</summary>
    protected bool ShouldProcessOrStop(string target, string action, object? errorTarget)
    {
        try
        {
            return ShouldProcess(target, action);
        }
        catch (Exception ex) when (ex is PSInvalidOperationException || ex is System.Management.Automation.Host.HostException)
        {
            StopWithError(new ErrorRecord(
                new InvalidOperationException(
                    $"{MyInvocation.MyCommand.Name} must ask before it can '{action}' on {target}, and this session cannot ask " +
                    $"({ex.Message}). In a scheduled task or script add -Force or -Confirm:$false. Nothing was changed.", ex),
                "ConfirmationRequired", ErrorCategory.InvalidOperation, errorTarget));
            return false;
        }
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
        MailErrorKind.LimitsExceeded => ErrorCategory.LimitsExceeded,
        MailErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        MailErrorKind.ReadError => ErrorCategory.ReadError,
        _ => ErrorCategory.InvalidOperation,
    };
}
