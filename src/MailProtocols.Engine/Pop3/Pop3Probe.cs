using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;

namespace MailProtocols.Engine.Pop3;

/// <summary>
/// Probes one POP3 endpoint stage by stage (connect, greeting, CAPA, TLS, login, STAT) on the
/// steps of <see cref="Pop3Session"/>, and reports what each stage found. It never sends DELE,
/// RETR or TOP, and ends with QUIT: nothing is marked, so nothing changes in the mailbox. A
/// failure is a result, not an exception: only cancellation leaves as
/// <see cref="OperationCanceledException"/>. Every stage ends within the timeout.
/// </summary>
public sealed class Pop3Probe
{
    private static readonly char[] Space = { ' ' };

    private readonly ConnectionSettings _settings;
    private readonly Action<string> _verbose;
    private readonly CancellationToken _token;
    private Pop3ProbeResult _result = new();
    private ProbeRecorder<Pop3ProbeStage> _recorder = null!;
    private Pop3Session? _session;
    private CancellationTokenSource? _stageLimit;
    private MailOperationException? _tokenError;
    private bool _sessionOpen; // a greeting came and the connection is still usable: QUIT at the end

    public Pop3Probe(ConnectionSettings settings, Action<string>? verbose, CancellationToken token)
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
    public Pop3ProbeStage QuitAfter { get; set; } = Pop3ProbeStage.Stat;

    /// <summary>A credential or token to sign in with, or the current logon (Kerberos).</summary>
    private bool HasSignIn => _settings.Credential != null || _settings.UseDefaultCredentials;

    private bool WillSignIn => HasSignIn && QuitAfter >= Pop3ProbeStage.Auth;

    /// <summary>Runs the probe once; a probe object is used for one run.</summary>
    public Pop3ProbeResult Run()
    {
        _result = new Pop3ProbeResult
        {
            Pop3Server = _settings.Host,
            Port = _settings.Port,
            Endpoint = _settings.Endpoint,
            TlsMode = _settings.TlsMode.ToString(),
        };
        _recorder = new ProbeRecorder<Pop3ProbeStage>(_result, _settings.Endpoint, _verbose);
        PrefetchToken();

        // The probe goes on whatever the certificate: the check's verdict is reported, and the
        // login stage refuses to send credentials to a server that failed it.
        using var session = new Pop3Session(_settings, _verbose, _token, new CertificateValidator(skipCertificateCheck: true, opportunistic: true));
        _session = session;
        try
        {
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
        catch (Exception ex)
        {
            // Whatever broke (the wire, the server's protocol, a SASL mechanism on a malformed
            // challenge), it is this endpoint's result: the next endpoint of the pipeline still runs.
            _sessionOpen = false;
            Fail(Describe(ex), HintFor(ex));
        }
        finally
        {
            EndStageLimit();
            Quit();
            _result.Addresses = new TextList<string>(session.Wire.ResolvedAddresses.Select(a => a.ToString()).ToList());
            _result.RemoteAddress ??= session.Wire.RemoteAddress?.ToString();
        }

        if (_result.Capabilities != null)
        {
            _recorder.Hints.AddRange(Pop3ProbeHints.ForCapabilities(_result.Capabilities, _result.Authenticated));
        }

        _recorder.Finish();
        return _result;
    }

    /// <summary>An app-only token is fetched before the mail server is connected to, so that the
    /// login stage does not include the identity platform's time; its failure is the login
    /// stage's, reported when the probe gets there (the server is still probed up to it).</summary>
    private void PrefetchToken()
    {
        if (!WillSignIn)
        {
            return;
        }

        try
        {
            _settings.PrefetchToken(_token);
        }
        catch (MailOperationException ex) when (!_token.IsCancellationRequested)
        {
            _tokenError = ex;
        }
    }

    private void RunStages()
    {
        var session = _session!;
        var implicitTls = session.ImplicitTls;
        Begin(Pop3ProbeStage.Connect);
        session.Wire.Connect(implicitTls ? "pops" : "pop", implicitTls: false, _token);
        _result.RemoteAddress = session.Wire.RemoteAddress?.ToString();
        End($"connected to {_result.RemoteAddress}");
        if (QuitAfter == Pop3ProbeStage.Connect)
        {
            return;
        }

        // Implicit TLS comes before the greeting, whatever stage the probe ends after.
        if (implicitTls)
        {
            Begin(Pop3ProbeStage.Tls, always: true);
            StartTls("Implicit");
            End($"{_result.Tls!.Protocol}, {_result.Tls.CipherSuite}");
        }

        Begin(Pop3ProbeStage.Greeting);
        var greeting = session.ReadGreeting();
        _result.Greeting = greeting.Line;
        _result.ApopTimestamp = session.ApopTimestamp;
        _sessionOpen = true;
        End(greeting.Line);
        if (!greeting.IsOk)
        {
            throw new ProbeFailure($"The server refused the session: {greeting.Line}", Pop3ProbeHints.GreetingRefused);
        }

        if (!Begin(Pop3ProbeStage.Capa))
        {
            return;
        }

        ReadCapabilities();
        End(_result.CapaSupported ? $"capabilities: {_result.Capabilities}" : "no CAPA (the server is older than RFC 2449)");

        var offered = _result.Capabilities?.Stls == true;
        if (!implicitTls && _settings.TlsMode != TlsMode.None && Begin(Pop3ProbeStage.Tls, run: offered || _settings.TlsMode == TlsMode.StartTls))
        {
            if (!offered)
            {
                throw new ProbeFailure($"{_settings.Endpoint} does not offer STLS{(_result.CapaSupported ? "" : " (it has no CAPA)")}, and -TlsMode StartTls requires it.",
                    Pop3ProbeHints.NoStlsRequired);
            }

            var reply = session.SendStls();
            if (!reply.IsOk)
            {
                throw new ProbeFailure($"{_settings.Endpoint} offered STLS but refused it: {reply.Line}", Pop3ProbeHints.StlsRefused);
            }

            StartTls("StartTls");
            _result.CapabilitiesBeforeTls = _result.Capabilities;
            _result.Capabilities = null;
            ReadCapabilities();
            End($"{_result.Tls!.Protocol}, {_result.Tls.CipherSuite}; capabilities: {_result.Capabilities?.ToString() ?? "(no CAPA)"}");
        }
        else if (!implicitTls && _settings.TlsMode == TlsMode.Auto && !offered && QuitAfter >= Pop3ProbeStage.Tls)
        {
            _recorder.Hints.Add(Pop3ProbeHints.NoStlsOffered);
        }

        if (HasSignIn && Begin(Pop3ProbeStage.Auth))
        {
            Authenticate();
        }

        if (_result.Authenticated && Begin(Pop3ProbeStage.Stat))
        {
            Stat();
        }
    }

    private void ReadCapabilities()
    {
        _session!.ReadCapabilities();
        var lines = _session.CapabilityLines;
        _result.CapaSupported = lines != null;
        _result.Capabilities = lines == null ? null : Pop3Capabilities.FromLines(lines);
    }

    private void StartTls(string method)
    {
        var wire = _session!.Wire;
        _session.StartTls();
        _result.Tls = TlsReport.From(wire.Tls!, method, wire.Validator);
        _recorder.Hints.AddRange(ProbeHints.ForTls(_settings.Host, _result.Tls));
    }

    private void Authenticate()
    {
        var session = _session!;
        var wire = session.Wire;
        var credential = _settings.Credential;
        var user = credential?.UserName ?? CurrentLogon.Description;
        if (_tokenError != null)
        {
            throw new ProbeFailure($"No token for '{user}', so no login was tried: {_tokenError.Message}", AuthenticationHints.ForAadsts(_tokenError.Message)?.Hint);
        }

        // Kerberos sends no password and proves the server (mutual authentication), so the
        // current logon may sign in over plain text or unverified TLS, as on the send path.
        var kerberos = _settings.UseDefaultCredentials;
        if (!kerberos && !wire.IsSecure && !_settings.AllowUnencryptedAuthentication)
        {
            throw new ProbeFailure($"The connection to {_settings.Endpoint} is not encrypted, so the credentials were not sent.", ProbeHints.UnencryptedAuthentication);
        }

        if (!kerberos && wire.IsSecure && !wire.Validator.Validated && !_settings.SkipCertificateCheck)
        {
            throw new ProbeFailure($"The certificate of {_settings.Endpoint} failed the check ({_result.Tls?.Certificate?.Problems}), so the credentials were not sent.",
                ProbeHints.UntrustedCertificateNoCredentials);
        }

        Pop3Reply reply;
        string mechanism;
        try
        {
            if (kerberos && _result.Capabilities?.SaslMechanisms.Contains(CurrentLogon.MechanismName) == true)
            {
                // Named before the exchange, so that a Kerberos failure in it still says which mechanism failed.
                _result.AuthMechanism = CurrentLogon.MechanismName;
            }

            reply = session.LoginReply(credential, out mechanism);
        }
        catch (MailOperationException ex) when (kerberos && ProbeHints.ForCurrentLogon(ex.ErrorId) is { } hint)
        {
            // Failed inside the exchange, the server still waits for a SASL answer, not for QUIT.
            _sessionOpen = ex.ErrorId == "AuthenticationNotSupported";
            throw new ProbeFailure(ex.Message, ex.ErrorId == "AuthenticationNotSupported" && !wire.IsSecure && _result.Capabilities?.Stls == true
                ? Pop3ProbeHints.SignInOnlyAfterStls
                : hint);
        }
        catch (MailOperationException ex) when (ex.ErrorId == "AuthenticationNotSupported")
        {
            throw new ProbeFailure(ex.Message, !wire.IsSecure && _result.Capabilities?.Stls == true ? Pop3ProbeHints.SignInOnlyAfterStls : Pop3ProbeHints.NoUsableSignIn);
        }

        _result.AuthMechanism = mechanism;
        _result.AuthReply = reply.Line;
        End($"{mechanism}: {reply.Line}");
        if (!reply.IsOk)
        {
            throw new ProbeFailure($"The server {_settings.Endpoint} refused the login of '{user}' ({mechanism}): {reply.Line}",
                Pop3ProbeHints.ForLoginReply(reply.Line, mechanism, _settings.UseOAuth2, wire.IsSecure));
        }

        _result.Authenticated = true;
    }

    /// <summary>STAT: how many messages, and how large in all. Nothing is read or marked.</summary>
    private void Stat()
    {
        var reply = _session!.Stat();
        End(reply.Line);
        if (!reply.IsOk)
        {
            throw new ProbeFailure($"The server {_settings.Endpoint} refused STAT: {reply.Line}", Pop3ProbeHints.ForLoginReply(reply.Line, "", false, true));
        }

        var parts = reply.Text.Split(Space, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var count) ||
            !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size))
        {
            throw new ProbeFailure($"The server's STAT reply '{reply.Line}' is not '+OK <count> <size>'.", null);
        }

        _result.MessageCount = count;
        _result.MailboxSize = size;
    }

    /// <summary>Starts a stage (see <see cref="ProbeRecorder{TStage}.Begin"/>) with its deadline:
    /// the whole stage (a CAPA list trickled line by line included) ends within the timeout.</summary>
    private bool Begin(Pop3ProbeStage stage, bool always = false, bool run = true)
    {
        if (!_recorder.Begin(stage, QuitAfter, always, run))
        {
            return false;
        }

        EndStageLimit();
        var session = _session!;
        _stageLimit = new CancellationTokenSource(_settings.Timeout);
        _stageLimit.Token.Register(() => session.Abort($"The {stage} stage took longer than {_settings.Timeout.TotalSeconds:0.###} s."));
        return true;
    }

    private void EndStageLimit()
    {
        _stageLimit?.Dispose();
        _stageLimit = null;
    }

    private void End(string what) => _recorder.End(what);

    private void Fail(string error, string? hint) => _recorder.Fail(error, hint);

    /// <summary>Ends the session with QUIT when it is still usable. Nothing was marked, so the
    /// server deletes nothing; a server that does not answer in time is simply left.</summary>
    private void Quit()
    {
        if (!_sessionOpen)
        {
            return;
        }

        _sessionOpen = false;
        try
        {
            using var limit = new CancellationTokenSource(_settings.Timeout);
            var session = _session!;
            using var abort = limit.Token.Register(() => session.Abort("No reply to QUIT in time."));
            session.SendQuit();
        }
        catch (Exception ex) when (!_token.IsCancellationRequested)
        {
            _verbose($"QUIT got no reply: {ex.Message}");
        }
    }

    private string Describe(Exception ex) =>
        ex is MailOperationException
            ? ex.Message
            : ConnectErrors.IsTimeout(ex) || _session!.Wire.TimedOut
                ? $"{_settings.Endpoint} did not answer within {_settings.Timeout.TotalSeconds:0.###} s at the {_recorder.Stage} stage."
                : $"{_settings.Endpoint}: {ex.Message}";

    /// <summary>The hint for a failure that came as an exception: the port and TLS mismatches,
    /// a handshake that failed or hung, a server that cannot be reached.</summary>
    private string? HintFor(Exception ex)
    {
        var wire = _session!.Wire;
        var implicitTls = _session.ImplicitTls;
        if (_recorder.Stage == Pop3ProbeStage.Tls && implicitTls && wire.ReceivedPop3Status)
        {
            return Pop3ProbeHints.ImplicitTlsOnPlainPort;
        }

        if (_recorder.Stage == Pop3ProbeStage.Greeting && !implicitTls && (wire.ReceivedTlsRecord || (wire.BytesRead == 0 && (ConnectErrors.IsTimeout(ex) || wire.TimedOut))))
        {
            return Pop3ProbeHints.NoGreeting(_settings.Port, wire.ReceivedTlsRecord, _settings.Timeout);
        }

        if (!(ex is MailOperationException mail))
        {
            return null;
        }

        return _recorder.Stage switch
        {
            Pop3ProbeStage.Connect => Pop3ProbeHints.ForConnectError(mail.ErrorId, _settings.Port),
            Pop3ProbeStage.Tls when mail.ErrorId == "TlsHandshakeFailed" => Pop3ProbeHints.HandshakeFailed,
            Pop3ProbeStage.Tls when mail.ErrorId == "ConnectTimeout" => Pop3ProbeHints.HandshakeTimedOut,
            _ => null,
        };
    }
}
