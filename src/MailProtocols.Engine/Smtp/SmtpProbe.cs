using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using MailKit.Security;

namespace MailProtocols.Engine.Smtp;

/// <summary>
/// Probes one SMTP endpoint stage by stage (connect, greeting, EHLO, TLS, sign-in, MAIL and RCPT
/// then RSET) and reports what each stage found, on the module's own wire, TLS and sign-in code.
/// It never sends DATA or BDAT. A failure is a result, not an exception: only cancellation
/// leaves as <see cref="OperationCanceledException"/>. Every wait is bounded by the timeout.
/// </summary>
public sealed class SmtpProbe
{
    private readonly ConnectionSettings _settings;
    private readonly Action<string> _verbose;
    private readonly CancellationToken _token;
    private readonly List<string> _hints = new();
    private readonly List<SmtpProbeStage> _stages = new();
    private readonly Stopwatch _watch = new();
    private SmtpProbeResult _result = new();
    private SmtpWire? _wire;
    private SmtpProbeStage _stage;
    private bool _sessionOpen; // a greeting came and the connection is still usable: QUIT at the end

    public SmtpProbe(ConnectionSettings settings, Action<string>? verbose, CancellationToken token)
    {
        if (settings.Port == 0)
        {
            throw new ArgumentException("The settings name no port: the caller chooses the default.", nameof(settings));
        }

        _settings = settings;
        _verbose = verbose ?? (_ => { });
        _token = token;
    }

    /// <summary>The last stage to run; the session ends with QUIT after it.</summary>
    public SmtpProbeStage QuitAfter { get; set; } = SmtpProbeStage.Recipient;

    /// <summary>The MAIL FROM address for the recipient stage; null or empty: the null sender.</summary>
    public string? From { get; set; }

    /// <summary>The addresses to try with RCPT TO; none: no recipient stage.</summary>
    public IReadOnlyList<string> To { get; set; } = Array.Empty<string>();

    private bool ImplicitTls => _settings.TlsMode == TlsMode.Implicit || (_settings.TlsMode == TlsMode.Auto && _settings.Port == SmtpSender.ImplicitTlsPort);

    /// <summary>Runs the probe once; a probe object is used for one run.</summary>
    public SmtpProbeResult Run()
    {
        _result = new SmtpProbeResult
        {
            SmtpServer = _settings.Host,
            Port = _settings.Port,
            Endpoint = _settings.Endpoint,
            TlsMode = _settings.TlsMode.ToString(),
        };
        var total = Stopwatch.StartNew();
        using var tap = new ProtocolTap(_settings.TranscriptPath);

        // The probe goes on whatever the certificate: the check's verdict is reported, and the
        // sign-in stage refuses to send credentials to a server that failed it.
        using var wire = new SmtpWire(_settings, tap, new CertificateValidator(skipCertificateCheck: true, opportunistic: true));
        _wire = wire;
        try
        {
            RunStages();
            _result.Success = true;
        }
        catch (Exception) when (_token.IsCancellationRequested)
        {
            throw new OperationCanceledException(_token);
        }
        catch (ProbeFailure failure)
        {
            Fail(failure.Message, failure.Hint);
        }
        catch (MailOperationException ex)
        {
            _sessionOpen = false;
            Fail(ex.Message, HintFor(ex));
        }
        catch (Exception ex) when (ex is IOException || ex is TimeoutException || ex is SmtpProtocolViolation || ex is AuthenticationException || ex is System.Net.Sockets.SocketException)
        {
            _sessionOpen = false;
            Fail(Describe(ex), HintFor(ex));
        }
        finally
        {
            Quit();
            _result.Addresses = new TextList<string>(wire.ResolvedAddresses.Select(a => a.ToString()).ToList());
            _result.RemoteAddress ??= wire.RemoteAddress?.ToString();
        }

        _result.Stages = new TextList<SmtpProbeStage>(_stages);
        _result.Elapsed = total.Elapsed;
        _result.Hint = _hints.Count == 0 ? null : string.Join(" ", _hints.Distinct());
        _verbose(_result.Success ? $"{_settings.Endpoint}: every stage passed." : $"{_settings.Endpoint}: the {_result.FailedStage} stage failed: {_result.Error}");
        return _result;
    }

    private void RunStages()
    {
        Begin(SmtpProbeStage.Connect);
        _wire!.Connect(ImplicitTls ? "smtps" : "smtp", implicitTls: false, _token);
        _result.RemoteAddress = _wire.RemoteAddress?.ToString();
        End($"connected to {_result.RemoteAddress}");
        if (QuitAfter == SmtpProbeStage.Connect)
        {
            return;
        }

        // Implicit TLS comes before the greeting, whatever stage the probe ends after.
        if (ImplicitTls)
        {
            Begin(SmtpProbeStage.Tls, always: true);
            StartTls("Implicit");
        }

        Begin(SmtpProbeStage.Banner);
        var greeting = _wire.ReadReply(_token);
        _result.Banner = greeting.ToString();
        _sessionOpen = true;
        End(_result.Banner);
        if (greeting.Code != 220)
        {
            throw new ProbeFailure($"The server refused the session: {greeting}", null);
        }

        if (!Begin(SmtpProbeStage.Ehlo))
        {
            return;
        }

        _result.Capabilities = Hello();
        End($"extensions: {_result.Capabilities}");

        var offered = _result.Capabilities.StartTls;
        if (!ImplicitTls && _settings.TlsMode != TlsMode.None && Begin(SmtpProbeStage.Tls, always: false, run: offered || _settings.TlsMode == TlsMode.StartTls))
        {
            if (!offered)
            {
                throw new ProbeFailure($"{_settings.Endpoint} does not offer STARTTLS, and -TlsMode StartTls requires it.", ProbeHints.NoStartTlsRequired);
            }

            _wire.Send("STARTTLS", -1, _token);
            var reply = _wire.ReadReply(_token);
            if (reply.Code != 220)
            {
                throw new ProbeFailure($"{_settings.Endpoint} offered STARTTLS but refused it: {reply}", null);
            }

            StartTls("StartTls");
            _result.CapabilitiesBeforeTls = _result.Capabilities;
            _result.Capabilities = Hello();
            End($"{_result.Tls!.Protocol}, {_result.Tls.CipherSuite}; extensions: {_result.Capabilities}");
        }
        else if (!ImplicitTls && _settings.TlsMode == TlsMode.Auto && !offered && QuitAfter >= SmtpProbeStage.Tls)
        {
            _hints.Add(ProbeHints.NoStartTlsOffered);
        }

        if (_settings.Credential != null && Begin(SmtpProbeStage.Auth))
        {
            Authenticate();
        }

        if (To.Count > 0 && Begin(SmtpProbeStage.Recipient))
        {
            TryRecipients();
        }
    }

    private void StartTls(string method)
    {
        _wire!.StartTls(_token);
        _result.Tls = TlsReport.From(_wire.Tls!, method, _wire.Validator);
        _hints.AddRange(ProbeHints.ForTls(_settings.Host, _result.Tls));
        if (method == "Implicit")
        {
            End($"{_result.Tls.Protocol}, {_result.Tls.CipherSuite}");
        }
    }

    /// <summary>EHLO, and HELO when the server refuses EHLO.</summary>
    private SmtpCapabilities Hello()
    {
        var name = Connector.LocalName(_wire!);
        _wire!.Send($"EHLO {name}", -1, _token);
        var reply = _wire.ReadReply(_token);
        if (reply.Code == 250)
        {
            return SmtpCapabilities.FromEhlo(reply.Text);
        }

        _wire.Send($"HELO {name}", -1, _token);
        var helo = _wire.ReadReply(_token);
        if (helo.Code != 250)
        {
            throw new ProbeFailure($"The server refused EHLO ({reply}) and HELO ({helo}).", null);
        }

        return new SmtpCapabilities { ServerName = helo.Text.Split(' ')[0], HeloOnly = true };
    }

    private void Authenticate()
    {
        var capabilities = _result.Capabilities!;
        var offered = capabilities.AuthMechanisms;
        if (offered.Count == 0)
        {
            throw new ProbeFailure($"{_settings.Endpoint} offers no AUTH, so the credentials were not tried.",
                !_wire!.IsSecure && capabilities.StartTls ? ProbeHints.AuthOnlyAfterStartTls : ProbeHints.NoAuthOffered);
        }

        if (!_wire!.IsSecure && !_settings.AllowUnencryptedAuthentication)
        {
            throw new ProbeFailure($"The connection to {_settings.Endpoint} is not encrypted, so the credentials were not sent.", ProbeHints.UnencryptedAuthentication);
        }

        if (_wire.IsSecure && !_wire.Validator.Validated && !_settings.SkipCertificateCheck)
        {
            throw new ProbeFailure($"The certificate of {_settings.Endpoint} failed the check ({_result.Tls?.Certificate?.Problems}), so the credentials were not sent.",
                ProbeHints.UntrustedCertificateNoCredentials);
        }

        var user = _settings.Credential!.UserName;
        var mechanism = Connector.ChooseMechanism(_settings, offered, _token);
        if (mechanism == null)
        {
            throw new ProbeFailure($"{_settings.Endpoint} offers no sign-in mechanism this module can use for these credentials (offered: {string.Join(", ", offered)}).", null);
        }

        _result.AuthMechanism = mechanism.MechanismName;
        var reply = Connector.Sasl(_wire, mechanism, _token);
        _result.AuthReply = reply.ToString();
        End($"{mechanism.MechanismName}: {reply}");
        if (reply.Code != 235)
        {
            throw new ProbeFailure($"The server {_settings.Endpoint} refused the sign-in of '{user}': {reply}", ProbeHints.ForReply(reply.Code, reply.Text, _settings.UseOAuth2));
        }

        _result.Authenticated = true;
    }

    /// <summary>MAIL FROM and RCPT TO for each address, then RSET: the server's verdicts, and nothing sent.</summary>
    private void TryRecipients()
    {
        var from = string.IsNullOrWhiteSpace(From) ? "" : Mailbox(From!);
        _wire!.Send($"MAIL FROM:<{from}>", -1, _token);
        var mail = _wire.ReadReply(_token);
        _result.Sender = Verdict(from, mail);
        if (!mail.IsPositive)
        {
            Reset();
            throw new ProbeFailure($"The server refused the sender <{from}>: {mail}", ProbeHints.ForReply(mail.Code, mail.Text, _settings.UseOAuth2));
        }

        var verdicts = new List<SmtpRecipientVerdict>();
        foreach (var address in To.Select(Mailbox))
        {
            _wire.Send($"RCPT TO:<{address}>", -1, _token);
            verdicts.Add(Verdict(address, _wire.ReadReply(_token)));
        }

        _result.Recipients = new TextList<SmtpRecipientVerdict>(verdicts);
        Reset();
        End(string.Join("; ", verdicts));

        var refused = verdicts.Where(v => !v.Accepted).ToList();
        if (refused.Count > 0)
        {
            var first = refused[0];
            var hint = refused.Any(v => v.Transient)
                ? ProbeHints.Greylisting
                : ProbeHints.ForReply(first.StatusCode, first.Reply.Substring(Math.Min(4, first.Reply.Length)), _settings.UseOAuth2);
            throw new ProbeFailure($"The server refused {refused.Count} of {verdicts.Count} recipient(s): {string.Join("; ", refused)}", hint);
        }
    }

    private void Reset()
    {
        _wire!.Send("RSET", -1, _token);
        _wire.ReadReply(_token);
    }

    private static SmtpRecipientVerdict Verdict(string address, SmtpReply reply) =>
        new() { Address = address, StatusCode = reply.Code, Reply = reply.ToString().Replace('\n', ' ') };

    /// <summary>The bare address of "Name &lt;a@b&gt;".</summary>
    private static string Mailbox(string address)
    {
        var open = address.LastIndexOf('<');
        var close = address.LastIndexOf('>');
        return open >= 0 && close > open ? address.Substring(open + 1, close - open - 1).Trim() : address.Trim();
    }

    /// <summary>Starts a stage unless the probe ends before it; <paramref name="always"/> runs it
    /// whatever -QuitAfter says (implicit TLS, without which nothing else can run), and
    /// <paramref name="run"/> false skips it.</summary>
    private bool Begin(SmtpProbeStage stage, bool always = false, bool run = true)
    {
        if (!run || (!always && stage > QuitAfter))
        {
            return false;
        }

        _stage = stage;
        _stages.Add(stage);
        _watch.Restart();
        return true;
    }

    private void End(string what)
    {
        var elapsed = _watch.Elapsed;
        switch (_stage)
        {
            case SmtpProbeStage.Connect: _result.ConnectTime = elapsed; break;
            case SmtpProbeStage.Banner: _result.BannerTime = elapsed; break;
            case SmtpProbeStage.Ehlo: _result.EhloTime = elapsed; break;
            case SmtpProbeStage.Tls: _result.TlsTime = elapsed; break;
            case SmtpProbeStage.Auth: _result.AuthTime = elapsed; break;
            case SmtpProbeStage.Recipient: _result.RecipientTime = elapsed; break;
        }

        _verbose($"{_stage} ({elapsed.TotalMilliseconds:0} ms): {what}");
    }

    private void Fail(string error, string? hint)
    {
        _result.Success = false;
        _result.FailedStage = _stage;
        _result.Error = error;
        if (hint != null)
        {
            _hints.Insert(0, hint);
        }
    }

    /// <summary>Ends the session politely when it is still usable; a server that does not
    /// answer QUIT in time is simply left.</summary>
    private void Quit()
    {
        if (!_sessionOpen)
        {
            return;
        }

        _sessionOpen = false;
        try
        {
            _wire!.Send("QUIT", -1, _token);
            _wire.ReadReply(_token);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException) && !_token.IsCancellationRequested)
        {
            _verbose($"QUIT got no reply: {ex.Message}");
        }
    }

    private string Describe(Exception ex) =>
        ConnectErrors.IsTimeout(ex)
            ? $"{_settings.Endpoint} did not answer within {_settings.Timeout.TotalSeconds:0.###} s at the {_stage} stage."
            : $"{_settings.Endpoint}: {ex.Message}";

    /// <summary>The hint for a failure that came as an exception: the TLS and port mismatches.</summary>
    private string? HintFor(Exception ex)
    {
        var wire = _wire!;
        if (_stage == SmtpProbeStage.Tls && ImplicitTls && wire.ReceivedDigits)
        {
            return ProbeHints.ImplicitTlsOnStartTlsPort;
        }

        if (_stage == SmtpProbeStage.Banner && !ImplicitTls && (wire.ReceivedTlsRecord || (wire.BytesRead == 0 && ConnectErrors.IsTimeout(ex))))
        {
            return ProbeHints.StartTlsOnImplicitTlsPort;
        }

        return ex is MailOperationException mail ? ProbeHints.ForConnectError(mail.ErrorId, _settings.Port) : null;
    }

    /// <summary>A stage's failure that the server's reply (or what it does not offer) makes.</summary>
    private sealed class ProbeFailure : Exception
    {
        public ProbeFailure(string message, string? hint)
            : base(message)
        {
            Hint = hint;
        }

        public string? Hint { get; }
    }
}
