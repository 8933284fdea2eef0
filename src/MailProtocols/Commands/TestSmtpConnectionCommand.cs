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
public sealed class TestSmtpConnectionCommand : ConnectionTestCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("ComputerName")]
    [ValidateNotNullOrEmpty]
    public string[] SmtpServer { get; set; } = Array.Empty<string>();

    [Parameter]
    public SmtpTestStage QuitAfter { get; set; } = SmtpTestStage.Recipient;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? From { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? To { get; set; }

    protected override void BeginProcessing()
    {
        base.BeginProcessing();
        if (QuitAfterGiven && QuitAfter == SmtpTestStage.Recipient && (To == null || To.Length == 0))
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
        if (QuitAfterGiven && QuitAfter == SmtpTestStage.Auth && ParameterSetName == CredentialSet && (Credential == null || Credential == PSCredential.Empty))
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-QuitAfter Auth needs something to sign in with: give -Credential, -AccessToken or an app-only sign-in."),
                "QuitAfterNeedsInput", ErrorCategory.InvalidArgument, QuitAfter));
        }

        if (QuitAfterGiven && QuitAfter == SmtpTestStage.Tls && TlsMode == MailTlsMode.None)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-QuitAfter Tls with -TlsMode None has no TLS to test: give another -TlsMode, or -QuitAfter Ehlo."),
                "QuitAfterNeedsInput", ErrorCategory.InvalidArgument, QuitAfter));
        }

        if (QuitAfter < SmtpTestStage.Recipient && (From != null || (To != null && To.Length > 0)))
        {
            WriteVerbose($"-From and -To are not tried: the probe ends after the {QuitAfter} stage, before the Recipient stage.");
        }
    }

    protected override string[] Servers => SmtpServer;

    protected override string QuitAfterName => QuitAfter.ToString();

    protected override bool QuitsAfterTls => QuitAfter == SmtpTestStage.Tls;

    protected override ConnectionSettings? SettingsFor(string server) => CreateSettings(server, SmtpSender.ImplicitTlsPort, SmtpSender.RelayPort, Addresses.Bare(From));

    protected override object Probe(ConnectionSettings settings) =>
        new SmtpProbe(settings, WriteVerbose, CancelToken)
        {
            QuitAfter = (SmtpProbeStage)QuitAfter,
            From = From,
            To = To ?? Array.Empty<string>(),
        }.Run();

    protected override bool Succeeded(object result) => ((SmtpProbeResult)result).Success;
}
