using System;
using System.Collections.Generic;
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
    private SmtpProbeResult _result = new();
    private ProbeRecorder<SmtpProbeStage> _recorder = null!;
    private SmtpWire? _wire;
    private Connector? _connector;
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

    private bool ImplicitTls => _connector!.SocketOptions == SecureSocketOptions.SslOnConnect;

    /// <summary>A credential or token to sign in with, or the current logon (Kerberos).</summary>
    private bool HasSignIn => _settings.Credential != null || _settings.UseDefaultCredentials;

    private bool SignsIn => HasSignIn && QuitAfter >= SmtpProbeStage.Auth;

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
        _recorder = new ProbeRecorder<SmtpProbeStage>(_result, _settings.Endpoint, _verbose);
        using var tap = new ProtocolTap(_settings.TranscriptPath);

        // The probe goes on whatever the certificate: the check's verdict is reported, and the
        // sign-in stage refuses to send credentials to a server that failed it.
        using var wire = new SmtpWire(_settings, tap, new CertificateValidator(skipCertificateCheck: true, opportunistic: true));
        _wire = wire;
        _connector = new Connector(wire, _settings, tap, SmtpSender.ImplicitTlsPort);
        try
        {
            // As the send path does: a token endpoint that refuses costs no mail connection.
            if (SignsIn)
            {
                Begin(SmtpProbeStage.Auth, always: true);
                try
                {
                    _settings.PrefetchToken(_token);
                }
                catch (MailOperationException ex) when (!_token.IsCancellationRequested)
                {
                    throw new ProbeFailure(ex.Message, ProbeHints.TokenRefused);
                }

                _recorder.ForgetStages();
            }

            RunStages();
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
            _sessionOpen = _sessionOpen && Usable(ex);
            Fail(Shorten(ex.Message), HintFor(ex));
        }
        catch (Exception ex) when (!(ex is OperationCanceledException))
        {
            // Whatever else went wrong (a connection lost, a reply that is not SMTP, a sign-in
            // mechanism that could not take the server's challenge) is this endpoint's result:
            // the next endpoint of the pipeline is still probed.
            _sessionOpen = _sessionOpen && Usable(ex);
            Fail(Describe(ex), HintFor(ex));
        }
        finally
        {
            Quit();
            _result.Addresses = new TextList<string>(wire.ResolvedAddresses.Select(a => a.ToString()).ToList());
            _result.RemoteAddress ??= wire.RemoteAddress?.ToString();
        }

        _recorder.Finish();
        return _result;
    }

    private void RunStages()
    {
        var connector = _connector!;
        Begin(SmtpProbeStage.Connect);
        _wire!.Connect(ImplicitTls ? "smtps" : "smtp", implicitTls: false, _token);
        _result.RemoteAddress = _wire.RemoteAddress?.ToString();
        End($"connected to {_result.RemoteAddress}");
        if (QuitAfter == SmtpProbeStage.Connect)
        {
            return;
        }

        // The send path's bound: greeting, TLS and every EHLO within one timeout, however the
        // server trickles its lines.
        using (connector.PhaseDeadline(_result.ConnectTime ?? TimeSpan.Zero))
        {
            Negotiate(connector);
        }

        if (_wire.TimedOut)
        {
            throw new TimeoutException("The deadline fired as the session was set up.");
        }

        if (HasSignIn && Begin(SmtpProbeStage.Auth))
        {
            Authenticate(connector);
        }

        if (To.Count > 0 && Begin(SmtpProbeStage.Recipient))
        {
            TryRecipients();
        }
    }

    /// <summary>Greeting, EHLO and TLS, each a stage, on the send path's steps.</summary>
    private void Negotiate(Connector connector)
    {
        // Implicit TLS comes before the greeting, whatever stage the probe ends after.
        if (ImplicitTls)
        {
            Begin(SmtpProbeStage.Tls, always: true);
            _wire!.StartTls(_token);
            ReportTls("Implicit");
        }

        Begin(SmtpProbeStage.Banner);
        try
        {
            connector.Greet(_token);
        }
        finally
        {
            if (connector.Greeting is { } greeting)
            {
                _result.Banner = greeting.ToString();
                _sessionOpen = true;
            }
        }

        End(_result.Banner!);
        if (!Begin(SmtpProbeStage.Ehlo))
        {
            return;
        }

        _result.Capabilities = Capabilities(connector.Hello(_token), connector.HeloOnly);
        End($"extensions: {_result.Capabilities}");

        var offered = _result.Capabilities.StartTls;
        if (!ImplicitTls && Begin(SmtpProbeStage.Tls, run: _settings.TlsMode != TlsMode.None && connector.WantsStartTls))
        {
            _result.CapabilitiesBeforeTls = _result.Capabilities;
            _result.Capabilities = null; // until the EHLO after the handshake answers
            connector.StartTls(_token);
            ReportTls("StartTls");
            _result.Capabilities = Capabilities(connector.Hello(_token), connector.HeloOnly);
            End($"{_result.Tls!.Protocol}, {_result.Tls.CipherSuite}; extensions: {_result.Capabilities}");
        }
        else if (!ImplicitTls && _settings.TlsMode == TlsMode.Auto && !offered && QuitAfter >= SmtpProbeStage.Tls)
        {
            _recorder.Hints.Add(ProbeHints.NoStartTlsOffered);
        }
    }

    private static SmtpCapabilities Capabilities(SmtpReply reply, bool heloOnly) =>
        heloOnly ? new SmtpCapabilities { ServerName = reply.Text.Split(' ')[0], HeloOnly = true } : SmtpCapabilities.FromEhlo(reply.Text);

    private void ReportTls(string method)
    {
        _result.Tls = TlsReport.From(_wire!.Tls!, method, _wire.Validator);
        _recorder.Hints.AddRange(ProbeHints.ForTls(_settings.Host, _result.Tls));
        if (method == "Implicit")
        {
            End($"{_result.Tls.Protocol}, {_result.Tls.CipherSuite}");
        }
    }

    private void Authenticate(Connector connector)
    {
        var capabilities = _result.Capabilities!;
        var offered = capabilities.AuthMechanisms;
        if (offered.Count == 0)
        {
            throw new ProbeFailure("The server offers no AUTH, so the credentials were not tried.",
                !_wire!.IsSecure && capabilities.StartTls ? ProbeHints.AuthOnlyAfterStartTls : ProbeHints.NoAuthOffered);
        }

        var user = _settings.Credential?.UserName ?? CurrentLogon.Description;
        if (_settings.UseDefaultCredentials && offered.Contains(CurrentLogon.MechanismName))
        {
            // Named before the exchange, so that a Kerberos failure in it still says which mechanism failed.
            _result.AuthMechanism = CurrentLogon.MechanismName;
        }

        var reply = connector.SignIn(_token, out var mechanism);
        _result.AuthMechanism = mechanism;
        _result.AuthReply = reply.ToString();
        End($"{mechanism}: {reply}");
        if (reply.Code != 235)
        {
            throw new ProbeFailure($"The server refused the sign-in of '{user}': {reply}", ProbeHints.ForReply(reply.Code, reply.Text, _settings.UseOAuth2));
        }

        _result.Authenticated = true;
    }

    /// <summary>MAIL FROM and RCPT TO for each address, then RSET: the server's verdicts, and nothing sent.</summary>
    private void TryRecipients()
    {
        var from = string.IsNullOrWhiteSpace(From) ? "" : Addresses.Bare(From)!;
        _wire!.Send($"MAIL FROM:<{from}>", -1, _token);
        var mail = _wire.ReadReply(_token);
        _result.Sender = Verdict(from, mail);
        if (!mail.IsPositive)
        {
            var refusal = $"The server refused the sender <{from}>: {mail}";
            if (!Closing(mail))
            {
                Reset(refusal);
            }

            throw new ProbeFailure(refusal, ProbeHints.ForReply(mail.Code, mail.Text, _settings.UseOAuth2));
        }

        var verdicts = new List<SmtpRecipientVerdict>();
        foreach (var address in To.Select(a => Addresses.Bare(a)!))
        {
            _wire.Send($"RCPT TO:<{address}>", -1, _token);
            var reply = _wire.ReadReply(_token);
            verdicts.Add(Verdict(address, reply));
            _result.Recipients = new TextList<SmtpRecipientVerdict>(verdicts);
            if (Closing(reply))
            {
                break;
            }
        }

        var refused = verdicts.Where(v => !v.Accepted).ToList();
        var summary = refused.Count == 0 ? null : $"The server refused {refused.Count} of {To.Count} recipient(s): {string.Join("; ", refused)}";
        if (_sessionOpen)
        {
            Reset(summary);
        }

        End(string.Join("; ", verdicts));
        if (summary != null)
        {
            // Greylisting answers 450/451 to an unknown sender; a 5xx beside it, or a 421 (the
            // server ends the session), is another matter.
            var first = refused[0];
            var hint = refused.All(v => v.StatusCode is 450 or 451)
                ? ProbeHints.Greylisting
                : ProbeHints.ForReply(first.StatusCode, first.Reply.Substring(Math.Min(4, first.Reply.Length)), _settings.UseOAuth2);
            throw new ProbeFailure(summary, hint);
        }
    }

    /// <summary>421: the server closes the connection (RFC 5321 3.8); nothing more is sent, not even QUIT.</summary>
    private bool Closing(SmtpReply reply)
    {
        if (reply.Code != 421)
        {
            return false;
        }

        _sessionOpen = false;
        return true;
    }

    /// <summary>RSET, which ends the transaction. When it fails, and a refusal was read before, the
    /// refusal is what the result reports.</summary>
    private void Reset(string? refusal)
    {
        try
        {
            _wire!.Send("RSET", -1, _token);
            _wire.ReadReply(_token);
        }
        catch (Exception ex) when (refusal != null && !(ex is OperationCanceledException) && !_token.IsCancellationRequested)
        {
            _sessionOpen = false;
            _verbose($"RSET got no reply: {ex.Message}");
        }
    }

    private static SmtpRecipientVerdict Verdict(string address, SmtpReply reply) =>
        new() { Address = address, StatusCode = reply.Code, Reply = reply.ToString().Replace('\n', ' ') };

    private bool Begin(SmtpProbeStage stage, bool always = false, bool run = true) => _recorder.Begin(stage, QuitAfter, always, run);

    private void End(string what) => _recorder.End(what);

    private void Fail(string error, string? hint) => _recorder.Fail(error, hint);

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

    /// <summary>False when the failure broke the connection (closed, timed out, a broken TLS
    /// layer, a reply that is not SMTP): QUIT would only wait.</summary>
    private bool Usable(Exception ex)
    {
        if (_wire!.TimedOut)
        {
            return false;
        }

        for (var e = ex; e != null; e = e.InnerException)
        {
            if (e is IOException || e is TimeoutException || e is System.Net.Sockets.SocketException || e is SmtpProtocolViolation ||
                e is System.Security.Authentication.AuthenticationException || e is ObjectDisposedException)
            {
                return false;
            }
        }

        // A Kerberos failure inside the exchange leaves the server waiting for a SASL answer, not for QUIT.
        if (ex is MailOperationException k && _settings.UseDefaultCredentials && _recorder.Stage == SmtpProbeStage.Auth && k.ErrorId != "AuthenticationNotSupported")
        {
            return false;
        }

        return !(ex is MailOperationException m && m.ErrorId is "TlsHandshakeFailed" or "CertificateRejected" && _recorder.Stage == SmtpProbeStage.Tls);
    }

    /// <summary>The error in words; the endpoint, which the result names already, is left out.</summary>
    private string Shorten(string message)
    {
        var text = message.Replace($"The server {_settings.Endpoint} ", "The server ").Replace(_settings.Endpoint, "the server");
        return text.Length > 0 && char.IsLower(text[0]) ? char.ToUpperInvariant(text[0]) + text.Substring(1) : text;
    }

    private string Describe(Exception ex) =>
        ConnectErrors.IsTimeout(ex) || _wire!.TimedOut // an abort for the deadline may surface as a closed socket
            ? $"No answer within {_settings.Timeout.TotalSeconds:0.###} s at the {_recorder.Stage} stage."
            : Shorten(ex.Message);

    /// <summary>The hint for a failure that came as an exception: the TLS and port mismatches,
    /// a handshake that failed or stalled, and a server that could not be reached.</summary>
    private string? HintFor(Exception ex)
    {
        var wire = _wire!;
        var id = (ex as MailOperationException)?.ErrorId;
        var timeout = ConnectErrors.IsTimeout(ex) || wire.TimedOut || id == "ConnectTimeout";
        switch (_recorder.Stage)
        {
            case SmtpProbeStage.Connect:
                return id == null ? null : ProbeHints.ForConnectError(id, _settings.Port);
            case SmtpProbeStage.Tls when ImplicitTls && wire.ReceivedDigits:
                return ProbeHints.ImplicitTlsOnStartTlsPort;
            case SmtpProbeStage.Tls when id == "StartTlsNotOffered":
                return ProbeHints.NoStartTlsRequired;
            case SmtpProbeStage.Tls when timeout && wire.IsSecure:
                return null; // the handshake was done: a later read timed out
            case SmtpProbeStage.Tls when timeout:
                return ProbeHints.TlsHandshakeStalled(_settings.Timeout);
            case SmtpProbeStage.Tls when id == "TlsHandshakeFailed":
                return ProbeHints.TlsHandshakeRefused;
            case SmtpProbeStage.Banner when !ImplicitTls && (wire.ReceivedTlsRecord || (wire.BytesRead == 0 && timeout && _settings.Port == SmtpSender.ImplicitTlsPort)):
                return ProbeHints.StartTlsOnImplicitTlsPort;
            case SmtpProbeStage.Banner when !ImplicitTls && wire.BytesRead == 0 && timeout:
                return ProbeHints.NoGreeting(_settings.Timeout);
            case SmtpProbeStage.Banner when id == "ServerRefusedConnection" && _connector!.Greeting is { } greeting && ConnectionThrottling.IsConnectionLimit(greeting):
                return ProbeHints.ConnectionLimit;
            case SmtpProbeStage.Auth when _settings.UseDefaultCredentials:
                return ProbeHints.ForCurrentLogon(id);
            case SmtpProbeStage.Auth when id == "UnencryptedAuthenticationRefused":
                return ProbeHints.UnencryptedAuthentication;
            case SmtpProbeStage.Auth when id == "CertificateRejected":
                return ProbeHints.UntrustedCertificateNoCredentials;
            default:
                return null;
        }
    }
}
