using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using MailProtocols.Engine;
using MailProtocols.Engine.Pop3;

namespace MailProtocols.Commands;

/// <summary>
/// Deletes messages from a POP3 mailbox by UID, in one session of its own, opened when the
/// pipeline ends (so a Get-Pop3Message upstream has closed its session first): each UID is mapped
/// to its current message number in that session, so mail that another client added or removed
/// meanwhile never causes a wrong deletion. Deletions take effect at the session's QUIT.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "Pop3Message", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = CredentialSet)]
[OutputType("MailProtocols.Engine.Pop3.Pop3Entry")]
public sealed class RemovePop3MessageCommand : MailConnectionCmdlet
{
    private readonly List<string> _uids = new();

    [Parameter(Mandatory = true, Position = 0)]
    [Alias("Server", "ComputerName")]
    [ValidateNotNullOrEmpty]
    public string Pop3Server { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Uid { get; set; } = Array.Empty<string>();

    [Parameter]
    public SwitchParameter Force { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

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

    protected override void ProcessRecord()
    {
        foreach (var uid in Uid)
        {
            // RFC 1939: a UID is 1 to 70 printable ASCII characters (0x21-0x7E).
            if (uid.Length > 70 || uid.Any(c => c < '!' || c > '~'))
            {
                WriteError(new ErrorRecord(new ArgumentException($"'{uid}' is not a POP3 UID (1 to 70 printable ASCII characters)."),
                    "InvalidUid", ErrorCategory.InvalidArgument, uid));
                continue;
            }

            if (!_uids.Contains(uid, StringComparer.Ordinal))
            {
                _uids.Add(uid);
            }
        }
    }

    protected override void EndProcessing()
    {
        if (_uids.Count == 0)
        {
            return;
        }

        var settings = CreateSettings(Pop3Server, Pop3Session.ImplicitTlsPort, Pop3Session.PlainPort, null);
        if (settings == null)
        {
            return;
        }

        var mailbox = $"{settings.Credential?.UserName}@{Pop3Server}";
        using var session = OpenOrStop(() => new Pop3Session(settings, WriteVerbose, CancelToken));
        if (session == null)
        {
            return;
        }

        try
        {
            Guard(session.Open);
            if (!session.SupportsUidl)
            {
                throw new MailOperationException("UidlNotSupported", MailErrorKind.NotImplemented, settings.Endpoint,
                    $"The server {settings.Endpoint} has no UIDL, so messages cannot be found by UID; nothing was deleted rather than guess by number.");
            }

            var byUid = Guard(session.List).Where(e => e.Uid != null).GroupBy(e => e.Uid!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
            var found = new List<Pop3Entry>();
            foreach (var uid in _uids)
            {
                if (byUid.TryGetValue(uid, out var entry))
                {
                    found.Add(entry);
                }
                else
                {
                    WriteError(ToErrorRecord(new MailOperationException("MessageNotFound", MailErrorKind.ObjectNotFound, uid,
                        $"No message with UID '{uid}' is in the mailbox {mailbox}; it may have been deleted already.")));
                }
            }

            // A prompt names the sender and subject of what it deletes; read them only when one will be shown.
            var summaries = WillAsk() ? Guard(() => Pop3Fetcher.ReadSummaries(session, found)) : null;
            var chosen = new List<Pop3Entry>();
            for (var i = 0; i < found.Count; i++)
            {
                var entry = found[i];
                var about = summaries?[i] is { } summary ? $" from {summary.From}, '{summary.Subject}'" : "";
                if (Approve(mailbox, $"Delete message {entry.Uid}{about} ({entry.Size:N0} bytes)", entry.Uid!))
                {
                    chosen.Add(entry);
                }
                else if (StoppedBy != null)
                {
                    // The host could not ask: delete nothing at all, and end the session cleanly.
                    Guard(session.Quit);
                    return;
                }
            }

            var refused = chosen.Count == 0 ? new Dictionary<int, string>() : Guard(() => session.MarkDeleted(chosen));
            foreach (var entry in chosen.Where(e => refused.ContainsKey(e.Number)))
            {
                WriteError(ToErrorRecord(new MailOperationException("DeleteRefused", MailErrorKind.InvalidOperation, entry.Uid,
                    $"The server refused to delete message {entry.Uid}: {refused[entry.Number]}.")));
            }

            // QUIT: only now does the server delete what was marked.
            Guard(session.Quit);
            var deleted = chosen.Where(e => !refused.ContainsKey(e.Number)).ToList();
            WriteVerbose($"Deleted {deleted.Count} message(s) from {mailbox}.");
            if (PassThru)
            {
                WriteObject(deleted, enumerateCollection: true);
            }
        }
        catch (MailOperationException ex)
        {
            // Without QUIT the server deletes nothing: disposing the session drops the connection.
            ReportError(ex);
        }
    }

    /// <summary>Whether ShouldProcess will prompt: -Confirm, or the ConfirmImpact (High) reaching
    /// $ConfirmPreference, and neither -Force nor -WhatIf.</summary>
    private bool WillAsk()
    {
        if (Force || IsWhatIf())
        {
            return false;
        }

        if (MyInvocation.BoundParameters.TryGetValue("Confirm", out var confirm))
        {
            return ((SwitchParameter)confirm).IsPresent;
        }

        var preference = LanguagePrimitives.ConvertTo<ConfirmImpact>(GetVariableValue("ConfirmPreference") ?? ConfirmImpact.High);
        return preference != ConfirmImpact.None && ConfirmImpact.High >= preference;
    }

    private bool IsWhatIf() => MyInvocation.BoundParameters.TryGetValue("WhatIf", out var value)
        ? ((SwitchParameter)value).IsPresent
        : LanguagePrimitives.IsTrue(GetVariableValue("WhatIfPreference"));

    /// <summary>-Force skips the confirmation prompt, as -Confirm:$false does; -WhatIf (or
    /// $WhatIfPreference) still wins.</summary>
    private bool Approve(string target, string action, string uid)
    {
        if (Force && !IsWhatIf())
        {
            WriteVerbose($"{action} on {target} (-Force).");
            return true;
        }

        return ShouldProcessOrStop(target, action, uid);
    }
}
