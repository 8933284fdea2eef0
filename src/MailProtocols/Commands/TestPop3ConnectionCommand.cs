using System;
using System.Management.Automation;
using MailProtocols.Engine;
using MailProtocols.Engine.Pop3;

namespace MailProtocols.Commands;

/// <summary>
/// Probes POP3 servers without reading or deleting anything: connection, greeting, CAPA, TLS and
/// its certificate, the login, and STAT; then QUIT with nothing marked. One result per endpoint.
/// As with Test-Connection, a server that cannot be reached or refuses is a result (Success
/// false, FailedStage, Hint), not an error: only bad parameters are errors.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "Pop3Connection", DefaultParameterSetName = CredentialSet)]
[OutputType("MailProtocols.Engine.Pop3.Pop3ProbeResult")]
public sealed class TestPop3ConnectionCommand : ConnectionTestCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Server", "ComputerName")]
    [ValidateNotNullOrEmpty]
    public string[] Pop3Server { get; set; } = Array.Empty<string>();

    [Parameter]
    public Pop3TestStage QuitAfter { get; set; } = Pop3TestStage.Stat;

    protected override void BeginProcessing()
    {
        base.BeginProcessing();
        if (!QuitAfterGiven)
        {
            return;
        }

        var noLogin = ParameterSetName == CredentialSet && (Credential == null || Credential == PSCredential.Empty);
        if (QuitAfter >= Pop3TestStage.Auth && noLogin)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-QuitAfter {QuitAfter} needs a login: give -Credential, -AccessToken or an app-only sign-in."),
                "QuitAfterNeedsInput", ErrorCategory.InvalidArgument, QuitAfter));
        }

        if (QuitAfter == Pop3TestStage.Tls && TlsMode == MailTlsMode.None)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-QuitAfter Tls asks for the TLS stage and -TlsMode None skips it: give one of them."),
                "QuitAfterNeedsInput", ErrorCategory.InvalidArgument, QuitAfter));
        }
    }

    protected override string[] Servers => Pop3Server;

    protected override string QuitAfterName => QuitAfter.ToString();

    protected override bool QuitsAfterTls => QuitAfter == Pop3TestStage.Tls;

    protected override ConnectionSettings? SettingsFor(string server) => CreateSettings(server, Pop3Session.ImplicitTlsPort, Pop3Session.PlainPort, null);

    protected override object Probe(ConnectionSettings settings) =>
        new Pop3Probe(settings, WriteVerbose, CancelToken) { QuitAfter = (Pop3ProbeStage)QuitAfter }.Run();

    protected override bool Succeeded(object result) => ((Pop3ProbeResult)result).Success;
}
