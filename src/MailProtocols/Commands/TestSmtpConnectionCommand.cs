using System;
using System.Linq;
using System.Management.Automation;
using MailProtocols.Engine;
using MailProtocols.Engine.Smtp;

namespace MailProtocols.Commands;

/// <summary>
/// Probes SMTP servers without sending anything: connection, greeting, EHLO, TLS and its
/// certificate, sign-in, and with -To whether each recipient would be accepted (MAIL and RCPT,
/// then RSET; never DATA). One result per endpoint. As with Test-Connection, a server that cannot
/// be reached or refuses is a result (Success false, FailedStage, Hint), not an error: only bad
/// parameters are errors.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "SmtpConnection", DefaultParameterSetName = CredentialSet)]
[OutputType("MailProtocols.Engine.Smtp.SmtpProbeResult")]
public sealed class TestSmtpConnectionCommand : MailConnectionCmdlet
{
    private bool _quitAfterGiven;

    /// <summary>The piped row, only as the target of that row's error.</summary>
    [Parameter(ValueFromPipeline = true, DontShow = true)]
    public PSObject? InputObject { get; set; }

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("ComputerName")]
    [ValidateNotNullOrEmpty]
    public string[] SmtpServer { get; set; } = Array.Empty<string>();

    /// <summary>Bound by property name too, so that rows of servers and ports pipe in.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, 65535)]
    public new int Port
    {
        get => base.Port;
        set => base.Port = value;
    }

    /// <summary>Bound by property name too, so that each row can say how its port is secured.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public new MailTlsMode TlsMode
    {
        get => base.TlsMode;
        set => base.TlsMode = value;
    }

    [Parameter]
    public SmtpTestStage QuitAfter { get; set; } = SmtpTestStage.Recipient;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? From { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? To { get; set; }

    [Parameter]
    public SwitchParameter Quiet { get; set; }

    protected override void BeginProcessing()
    {
        base.BeginProcessing();
        _quitAfterGiven = MyInvocation.BoundParameters.ContainsKey(nameof(QuitAfter));
        if (_quitAfterGiven && QuitAfter == SmtpTestStage.Recipient && (To == null || To.Length == 0))
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-QuitAfter Recipient needs the addresses to try: give -To."),
                "QuitAfterNeedsInput", ErrorCategory.InvalidArgument, QuitAfter));
        }

        // An address goes into MAIL FROM / RCPT TO as it is: a line break in it would end that
        // command and start another (DATA included), so such an address is refused before any work.
        foreach (var address in (To ?? Array.Empty<string>()).Append(From ?? ""))
        {
            if (address.Any(char.IsControl))
            {
                ThrowTerminatingError(new ErrorRecord(
                    new ArgumentException($"The address '{address.Replace("\r", "\\r").Replace("\n", "\\n")}' holds a line break or another control character, which no mail address has."),
                    "AddressHasControlCharacter", ErrorCategory.InvalidArgument, address));
            }
        }

        // PSCredential.Empty signs in with nothing (CreateSettings drops it), as no -Credential does.
        if (_quitAfterGiven && QuitAfter == SmtpTestStage.Auth && ParameterSetName == CredentialSet && (Credential == null || Credential == PSCredential.Empty))
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-QuitAfter Auth needs something to sign in with: give -Credential, -AccessToken or an app-only sign-in."),
                "QuitAfterNeedsInput", ErrorCategory.InvalidArgument, QuitAfter));
        }

        if (_quitAfterGiven && QuitAfter == SmtpTestStage.Tls && TlsMode == MailTlsMode.None)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-QuitAfter Tls with -TlsMode None has no TLS to test: give another -TlsMode, or -QuitAfter Ehlo."),
                "QuitAfterNeedsInput", ErrorCategory.InvalidArgument, QuitAfter));
        }

        if (QuitAfter < SmtpTestStage.Recipient && (From != null || (To != null && To.Length > 0)))
        {
            WriteVerbose($"-From and -To are not tried: the probe ends after the {QuitAfter} stage, before the Recipient stage.");
        }
    }

    protected override void ProcessRecord()
    {
        // A row of a CSV can bring -TlsMode None to a -QuitAfter Tls given once for all rows,
        // which BeginProcessing cannot see: that row is refused and the next ones are probed.
        if (_quitAfterGiven && QuitAfter == SmtpTestStage.Tls && TlsMode == MailTlsMode.None)
        {
            WriteError(new ErrorRecord(new ArgumentException("-QuitAfter Tls asks for the TLS stage and this row's TlsMode None skips it: give the row another TlsMode."),
                "QuitAfterNeedsInput", ErrorCategory.InvalidArgument, InputObject ?? (object)string.Join(", ", SmtpServer)));
            return;
        }

        foreach (var server in SmtpServer)
        {
            if (StoppedBy != null)
            {
                return;
            }

            var settings = CreateSettings(server, SmtpSender.ImplicitTlsPort, SmtpSender.RelayPort, Addresses.Bare(From));
            if (settings == null)
            {
                return;
            }

            var probe = new SmtpProbe(settings, WriteVerbose, CancelToken)
            {
                QuitAfter = (SmtpProbeStage)QuitAfter,
                From = From,
                To = To ?? Array.Empty<string>(),
            };
            WriteVerbose($"Probing {settings.Endpoint} (TLS mode {settings.TlsMode}) up to the {QuitAfter} stage.");
            var result = OpenOrStop(() => Guard(probe.Run));
            if (result == null)
            {
                return;
            }

            WriteObject(Quiet ? result.Success : result);
        }
    }
}
