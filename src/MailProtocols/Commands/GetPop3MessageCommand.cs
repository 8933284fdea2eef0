using System;
using System.IO;
using System.Management.Automation;
using MailProtocols.Engine;
using MailProtocols.Engine.Pop3;

namespace MailProtocols.Commands;

/// <summary>
/// Lists or downloads the messages of a POP3 mailbox over one connection: headers only by
/// default (TOP n 0), whole messages with -IncludeBody, saved as .eml files with -Destination,
/// and deleted from the server with -Delete, each only after it was safely received and saved.
/// </summary>
[Cmdlet(VerbsCommon.Get, "Pop3Message", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = CredentialSet)]
[OutputType("MailProtocols.Engine.Pop3.Pop3Message")]
public sealed class GetPop3MessageCommand : MailConnectionCmdlet
{
    private const int ProgressThreshold = 5;

    [Parameter(Mandatory = true, Position = 0)]
    [Alias("Server", "ComputerName")]
    [ValidateNotNullOrEmpty]
    public string Pop3Server { get; set; } = "";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? Uid { get; set; }

    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Newest { get; set; }

    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Oldest { get; set; }

    [Parameter]
    public SwitchParameter IncludeBody { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    [Parameter]
    public SwitchParameter Delete { get; set; }

    protected override void ProcessRecord()
    {
        if (Newest > 0 && Oldest > 0)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Newest and -Oldest cannot be used together."),
                "ConflictingSelection", ErrorCategory.InvalidArgument, null));
        }

        if (StoppedBy != null)
        {
            return;
        }

        var settings = CreateSettings(Pop3Server, Pop3Session.ImplicitTlsPort, null);
        var destination = ResolveDestination();
        if (settings == null || StoppedBy != null)
        {
            return;
        }

        var request = new Pop3FetchRequest
        {
            Uids = Uid,
            Newest = Newest,
            Oldest = Oldest,
            IncludeBody = IncludeBody,
            Destination = destination,
            Delete = Delete,
        };

        if (Delete || destination != null)
        {
            // Declined (or -WhatIf): nothing changes on disk or on the server; the listing still runs.
            var action = (Delete.IsPresent, destination) switch
            {
                (true, null) => "Download the selected messages and delete them from the server",
                (false, _) => $"Save the selected messages as .eml files in '{destination}'",
                _ => $"Save the selected messages as .eml files in '{destination}' and delete them from the server",
            };
            if (!ShouldProcessOrStop($"{settings.Credential?.UserName}@{Pop3Server}", action, Pop3Server))
            {
                if (StoppedBy != null)
                {
                    return;
                }

                request.Delete = false;
                request.Destination = null;
            }
        }

        using var session = new Pop3Session(settings, WriteVerbose, CancelToken);
        try
        {
            Guard(session.Open);
            var marked = 0;
            var activity = $"Get-Pop3Message {Pop3Server}";
            var showedProgress = false;
            foreach (var outcome in GuardEach(Pop3Fetcher.Fetch(session, request, settings.Endpoint)))
            {
                if (outcome.Total > ProgressThreshold)
                {
                    // A new record each time: the host may keep the ones it was given.
                    WriteProgress(new ProgressRecord(1, activity,
                        $"{outcome.Done} of {outcome.Total} messages, {outcome.Bytes / 1024:N0} of {outcome.TotalBytes / 1024:N0} KB")
                    {
                        PercentComplete = (int)(100L * outcome.Done / outcome.Total),
                    });
                    showedProgress = true;
                }

                if (outcome.Note != null)
                {
                    WriteVerbose(outcome.Note);
                }

                if (outcome.Error != null)
                {
                    ReportError(outcome.Error);
                }

                if (outcome.Message != null)
                {
                    marked += outcome.Message.MarkedForDeletion ? 1 : 0;
                    WriteObject(outcome.Message);
                }
            }

            // QUIT ends the session cleanly; only now does the server delete the marked messages.
            Guard(session.Quit);
            if (request.Delete)
            {
                WriteVerbose($"Session ended with QUIT; the server deleted the {marked} message(s) marked for deletion.");
            }

            if (showedProgress)
            {
                WriteProgress(new ProgressRecord(1, activity, "Done") { RecordType = ProgressRecordType.Completed });
            }
        }
        catch (MailOperationException ex)
        {
            // Without QUIT the server deletes nothing: disposing the session drops the connection.
            ReportError(ex);
        }
    }

    /// <summary>The -Destination folder as a file-system path; null, with the error written and
    /// the command stopped, when it does not exist.</summary>
    private string? ResolveDestination()
    {
        if (Destination == null)
        {
            return null;
        }

        var path = GetUnresolvedProviderPathFromPSPath(Destination);
        if (!Directory.Exists(path))
        {
            StopWithError(new ErrorRecord(new DirectoryNotFoundException($"The destination folder '{path}' does not exist."),
                "DestinationNotFound", ErrorCategory.ObjectNotFound, Destination));
            return null;
        }

        return path;
    }
}
