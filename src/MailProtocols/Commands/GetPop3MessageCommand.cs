using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Management.Automation;
using MailProtocols.Engine;
using MailProtocols.Engine.Pop3;

namespace MailProtocols.Commands;

/// <summary>
/// Lists or downloads the messages of a POP3 mailbox over one connection: headers only by
/// default (TOP n 0), whole messages with -IncludeBody, saved as .eml files with -Destination,
/// and deleted from the server with -Delete, each only after it was safely received and saved.
/// UIDs may come from the pipeline; the mailbox is read when the pipeline ends.
/// </summary>
[Cmdlet(VerbsCommon.Get, "Pop3Message", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = CredentialSet)]
[OutputType("MailProtocols.Engine.Pop3.Pop3Message")]
public sealed class GetPop3MessageCommand : MailConnectionCmdlet
{
    private const int ProgressThreshold = 5;

    // At most this often a progress record (besides the first and the last), as PowerShell's own
    // cmdlets do: a host shows no more, and a record per message of a long listing cost more than
    // the rest of the cmdlet's work per message and filled a hosted runspace's Progress stream.
    private const int ProgressIntervalMs = 200;
    private List<string>? _uids; // null: no -Uid, every message

    [Parameter(Mandatory = true, Position = 0)]
    [Alias("Server", "ComputerName")]
    [ValidateNotNullOrEmpty]
    public string Pop3Server { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
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

    /// <summary>Signs in as the account the command runs as (its Kerberos ticket), as
    /// Send-MailMessage did; a parameter set of its own, so it conflicts with every other sign-in.</summary>
    [Parameter(Mandatory = true, ParameterSetName = DefaultCredentialsSet)]
    public SwitchParameter UseDefaultCredentials { get; set; }

    /// <summary>The SASL mechanisms to sign in with, tried in this order (the first the server
    /// offers is used); without it, SASL PLAIN, LOGIN, USER/PASS, APOP.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ValidateSet("GSSAPI", "NTLM", "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5", "PLAIN", "LOGIN", "XOAUTH2", "USER", "APOP")]
    public string[]? AuthenticationMechanism { get; set; }

    /// <summary>Mechanisms never to sign in with, e.g. an NTLM that the relay offers and then refuses.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ValidateSet("GSSAPI", "NTLM", "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "CRAM-MD5", "PLAIN", "LOGIN", "XOAUTH2", "USER", "APOP")]
    public string[]? ExcludeAuthenticationMechanism { get; set; }

    protected override string[]? ChosenMechanisms => AuthenticationMechanism;

    protected override string[]? ExcludedMechanisms => ExcludeAuthenticationMechanism;

    protected override void BeginProcessing()
    {
        if (Newest > 0 && Oldest > 0)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-Newest and -Oldest cannot be used together."),
                "ConflictingSelection", ErrorCategory.InvalidArgument, null));
        }

        base.BeginProcessing();
    }

    /// <summary>Collects the UIDs; the mailbox is read once, when the pipeline ends, so that a
    /// Get-Pop3Message upstream has closed its session first (servers lock a mailbox per session).</summary>
    protected override void ProcessRecord()
    {
        if (Uid != null)
        {
            _uids ??= new List<string>();
            _uids.AddRange(Uid);
        }
    }

    protected override void EndProcessing()
    {
        if (StoppedBy != null)
        {
            return;
        }

        // Piped input that gave no UID (nothing came through a Where-Object, or objects without
        // one) selects nothing; it must never mean "every message", least of all with -Delete.
        if (MyInvocation.ExpectingInput && _uids == null)
        {
            WriteVerbose("No UID came through the pipeline: no message was read.");
            return;
        }

        var settings = CreateSettings(Pop3Server, Pop3Session.ImplicitTlsPort, Pop3Session.PlainPort, null);
        var destination = ResolveDestination();
        if (settings == null || StoppedBy != null)
        {
            return;
        }

        var request = new Pop3FetchRequest
        {
            Uids = _uids,
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

        using var session = OpenOrStop(() => new Pop3Session(settings, WriteVerbose, CancelToken));
        if (session == null)
        {
            return;
        }

        try
        {
            Guard(session.Open);
            var deleted = 0;
            var activity = $"Get-Pop3Message {Pop3Server}";
            var showedProgress = false;
            var shownDone = 0;
            var sinceProgress = Stopwatch.StartNew();
            foreach (var outcome in GuardEach(Pop3Fetcher.Fetch(session, request, settings.Endpoint)))
            {
                if (outcome.Total > ProgressThreshold && outcome.Done != shownDone &&
                    (shownDone == 0 || outcome.Done == outcome.Total || sinceProgress.ElapsedMilliseconds >= ProgressIntervalMs))
                {
                    shownDone = outcome.Done;
                    sinceProgress.Restart();
                    // A new record each time: the host may keep the ones it was given.
                    var bytes = outcome.TotalBytes == 0 ? "" : $", {outcome.Bytes / 1024:N0} of {outcome.TotalBytes / 1024:N0} KB";
                    WriteProgress(new ProgressRecord(1, activity, $"{outcome.Done} of {outcome.Total} messages{bytes}")
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

                if (outcome.Deleted is int accepted)
                {
                    deleted = accepted;
                }

                if (outcome.Message != null)
                {
                    WriteObject(outcome.Message);
                }
            }

            // QUIT ends the session cleanly; only now does the server delete the marked messages.
            Guard(session.Quit);
            if (request.Delete)
            {
                WriteVerbose($"Session ended with QUIT; the server deleted the {deleted} message(s) marked for deletion.");
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
