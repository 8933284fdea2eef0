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
public sealed class TestPop3ConnectionCommand : MailConnectionCmdlet
{
    private bool _quitAfterGiven;

    /// <summary>The piped row, only as the target of that row's error.</summary>
    [Parameter(ValueFromPipeline = true, DontShow = true)]
    public PSObject? InputObject { get; set; }

    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("Server", "ComputerName")]
    [ValidateNotNullOrEmpty]
    public string[] Pop3Server { get; set; } = Array.Empty<string>();

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
    public Pop3TestStage QuitAfter { get; set; } = Pop3TestStage.Stat;

    [Parameter]
    public SwitchParameter Quiet { get; set; }

    protected override void BeginProcessing()
    {
        base.BeginProcessing();
        _quitAfterGiven = MyInvocation.BoundParameters.ContainsKey(nameof(QuitAfter));
        if (!_quitAfterGiven)
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

    protected override void ProcessRecord()
    {
        // A row of a CSV can bring -TlsMode None to a -QuitAfter Tls given once for all rows,
        // which BeginProcessing cannot see: that row is refused and the next ones are probed.
        if (_quitAfterGiven && QuitAfter == Pop3TestStage.Tls && TlsMode == MailTlsMode.None)
        {
            WriteError(new ErrorRecord(new ArgumentException("-QuitAfter Tls asks for the TLS stage and this row's TlsMode None skips it: give the row another TlsMode."),
                "QuitAfterNeedsInput", ErrorCategory.InvalidArgument, InputObject ?? (object)string.Join(", ", Pop3Server)));
            return;
        }

        foreach (var server in Pop3Server)
        {
            if (StoppedBy != null)
            {
                return;
            }

            var settings = CreateSettings(server, Pop3Session.ImplicitTlsPort, Pop3Session.PlainPort, null);
            if (settings == null)
            {
                return;
            }

            var probe = new Pop3Probe(settings, WriteVerbose, CancelToken) { QuitAfter = (Pop3ProbeStage)QuitAfter };
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
