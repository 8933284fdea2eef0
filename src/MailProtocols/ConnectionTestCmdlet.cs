using System;
using System.Management.Automation;
using MailProtocols.Engine;

namespace MailProtocols;

/// <summary>
/// What Test-SmtpConnection and Test-Pop3Connection share: the parameters a row of servers pipes
/// in by name (Port, TlsMode), -Quiet, -UseDefaultCredentials, and the per-row loop that probes each server of the row and
/// writes one result (or only its Success) per endpoint. The results are objects here: an engine
/// type in the class's own signature (a generic argument) would be resolved when PowerShell loads
/// the cmdlets, before the engine's load context can answer.
/// </summary>
public abstract class ConnectionTestCmdlet : MailConnectionCmdlet
{
    /// <summary>The piped row, only as the target of that row's error.</summary>
    [Parameter(ValueFromPipeline = true, DontShow = true)]
    public PSObject? InputObject { get; set; }

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
    public SwitchParameter Quiet { get; set; }

    /// <summary>Signs in at the Auth stage as the current logon (Kerberos), as the other cmdlets
    /// do: a parameter set of its own, so that it conflicts with every other sign-in.</summary>
    [Parameter(Mandatory = true, ParameterSetName = DefaultCredentialsSet)]
    public SwitchParameter UseDefaultCredentials { get; set; }

    /// <summary>True when -QuitAfter was given (not left at its default).</summary>
    protected bool QuitAfterGiven { get; private set; }

    /// <summary>The servers of this row.</summary>
    protected abstract string[] Servers { get; }

    /// <summary>The -QuitAfter stage, as the verbose output names it.</summary>
    protected abstract string QuitAfterName { get; }

    /// <summary>True when -QuitAfter asks for the TLS stage to be the last.</summary>
    protected abstract bool QuitsAfterTls { get; }

    /// <summary>The engine settings for one server, or null when the cmdlet has stopped.</summary>
    protected abstract ConnectionSettings? SettingsFor(string server);

    /// <summary>Probes one endpoint: a result, whatever the server does.</summary>
    protected abstract object Probe(ConnectionSettings settings);

    protected abstract bool Succeeded(object result);

    protected override void BeginProcessing()
    {
        base.BeginProcessing();
        QuitAfterGiven = MyInvocation.BoundParameters.ContainsKey("QuitAfter");
    }

    protected override void ProcessRecord()
    {
        // A row of a CSV can bring -TlsMode None to a -QuitAfter Tls given once for all rows,
        // which BeginProcessing cannot see: that row is refused and the next ones are probed.
        if (QuitAfterGiven && QuitsAfterTls && TlsMode == MailTlsMode.None)
        {
            WriteError(new ErrorRecord(new ArgumentException("-QuitAfter Tls asks for the TLS stage and this row's TlsMode None skips it: give the row another TlsMode."),
                "QuitAfterNeedsInput", ErrorCategory.InvalidArgument, InputObject ?? (object)string.Join(", ", Servers)));
            return;
        }

        foreach (var server in Servers)
        {
            if (StoppedBy != null)
            {
                return;
            }

            var settings = SettingsFor(server);
            if (settings == null)
            {
                return;
            }

            WriteVerbose($"Probing {settings.Endpoint} (TLS mode {settings.TlsMode}) up to the {QuitAfterName} stage.");
            var result = OpenOrStop(() => Guard(() => Probe(settings)));
            if (result == null)
            {
                return;
            }

            WriteObject(Quiet ? Succeeded(result) : result);
        }
    }
}
