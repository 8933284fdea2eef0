using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Security;
using System.Security.Cryptography.X509Certificates;
using MailProtocols.Engine;
using MailProtocols.Engine.OAuth;

namespace MailProtocols;

/// <summary>
/// The connection parameters every cmdlet shares (port, TLS, certificate checks, credentials, an
/// OAuth2 token or an app-only sign-in, timeout, transcript), and the one place they become
/// engine settings.
/// </summary>
public abstract class MailConnectionCmdlet : CancellablePSCmdlet
{
    protected const string CredentialSet = "Credential";
    protected const string OAuthSet = "OAuth";
    protected const string AppSecretSet = "AppSecret";
    protected const string AppCertificateThumbprintSet = "AppCertificateThumbprint";
    protected const string AppCertificateSet = "AppCertificate";
    protected const string ServiceAccountSet = "ServiceAccount";

    /// <summary>The set of the cmdlets that can sign in as the current logon: they declare
    /// -UseDefaultCredentials in it, which makes it conflict with every other sign-in.</summary>
    protected const string DefaultCredentialsSet = "DefaultCredentials";

    [Parameter]
    [ValidateRange(0, 65535)]
    public int Port { get; set; }

    [Parameter]
    public SwitchParameter UseSsl { get; set; }

    [Parameter]
    public MailTlsMode TlsMode { get; set; } = MailTlsMode.Auto;

    [Parameter]
    public SwitchParameter SkipCertificateCheck { get; set; }

    [Parameter]
    public SwitchParameter CheckCertificateRevocation { get; set; }

    [Parameter(ParameterSetName = CredentialSet)]
    [Credential]
    public PSCredential? Credential { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = OAuthSet)]
    public SecureString? AccessToken { get; set; }

    [Parameter(ParameterSetName = OAuthSet)]
    [Parameter(ParameterSetName = AppSecretSet)]
    [Parameter(ParameterSetName = AppCertificateThumbprintSet)]
    [Parameter(ParameterSetName = AppCertificateSet)]
    [Parameter(ParameterSetName = ServiceAccountSet)]
    [ValidateNotNullOrEmpty]
    public string? UserName { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = AppSecretSet)]
    [Parameter(Mandatory = true, ParameterSetName = AppCertificateThumbprintSet)]
    [Parameter(Mandatory = true, ParameterSetName = AppCertificateSet)]
    [ValidateNotNullOrEmpty]
    public string? TenantId { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = AppSecretSet)]
    [Parameter(Mandatory = true, ParameterSetName = AppCertificateThumbprintSet)]
    [Parameter(Mandatory = true, ParameterSetName = AppCertificateSet)]
    [ValidateNotNullOrEmpty]
    public string? ClientId { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = AppSecretSet)]
    [ValidateNotNull]
    public SecureString? ClientSecret { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = AppCertificateThumbprintSet)]
    [ValidateNotNullOrEmpty]
    public string? CertificateThumbprint { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = AppCertificateSet)]
    [ValidateNotNull]
    public X509Certificate2? Certificate { get; set; }

    [Parameter(ParameterSetName = AppSecretSet)]
    [Parameter(ParameterSetName = AppCertificateThumbprintSet)]
    [Parameter(ParameterSetName = AppCertificateSet)]
    public MicrosoftEnvironment Environment { get; set; } = MicrosoftEnvironment.Global;

    [Parameter(ParameterSetName = AppSecretSet)]
    [Parameter(ParameterSetName = AppCertificateThumbprintSet)]
    [Parameter(ParameterSetName = AppCertificateSet)]
    [ValidateNotNull]
    public Uri? Authority { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = ServiceAccountSet)]
    [ValidateNotNullOrEmpty]
    public string? ServiceAccountKeyPath { get; set; }

    [Parameter]
    public SwitchParameter AllowUnencryptedAuthentication { get; set; }

    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSec { get; set; } = 60;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? TranscriptPath { get; set; }

    /// <summary>-AuthenticationMechanism of the cmdlets that declare it; null when not given.</summary>
    protected virtual string[]? ChosenMechanisms => null;

    /// <summary>-ExcludeAuthenticationMechanism of the cmdlets that declare it; null when not given.</summary>
    protected virtual string[]? ExcludedMechanisms => null;

    private MechanismChoice? _mechanisms;

    protected override void BeginProcessing()
    {
        CheckMechanismChoice();
        if (UseSsl && TlsMode == MailTlsMode.None)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-UseSsl asks for TLS and -TlsMode None forbids it: give one of them."),
                "ConflictingTlsParameters", ErrorCategory.InvalidArgument, TlsMode));
        }

        // The base URL only: the tenant comes from -TenantId, and a tenant in the path too would be
        // doubled; a query or fragment would end up before the tenant.
        if (Authority != null && !IsAuthorityBase(Authority))
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Authority must be the sign-in authority's base URL: https, with no path, query or fragment (e.g. https://login.microsoftonline.us). The tenant comes from -TenantId, and the token's scope from -Environment (Global unless given). '{Authority}' is not such a URL."),
                "InvalidAuthority", ErrorCategory.InvalidArgument, Authority));
        }

        if (ClientSecret != null && ClientSecret.Length == 0)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-ClientSecret is empty: give the client secret's value (not its ID) from the app registration's Certificates & secrets page."),
                "ClientSecretEmpty", ErrorCategory.InvalidArgument, ClientId));
        }
    }

    /// <summary>Keeps the mechanism choice; one that no sign-in of these parameters could use is a
    /// terminating error before any connection.</summary>
    private void CheckMechanismChoice()
    {
        if (ChosenMechanisms == null && ExcludedMechanisms == null)
        {
            return;
        }

        var choice = new MechanismChoice(ChosenMechanisms, ExcludedMechanisms);
        var left = choice.Chosen?.Where(n => !choice.Excluded.Contains(n)).ToList();
        string? conflict = null;
        if (left is { Count: 0 })
        {
            conflict = $"-ExcludeAuthenticationMechanism rules out every mechanism that -AuthenticationMechanism allows ({string.Join(", ", choice.Chosen!)}).";
        }
        else if (ParameterSetName == DefaultCredentialsSet)
        {
            if (left?.Any(n => n != "GSSAPI") == true || choice.Excluded.Contains("GSSAPI"))
            {
                conflict = "-UseDefaultCredentials signs in with Kerberos (GSSAPI) only: leave out -AuthenticationMechanism and -ExcludeAuthenticationMechanism, or give -Credential.";
            }
        }
        else if (ParameterSetName != CredentialSet)
        {
            if (left?.Any(n => n != "XOAUTH2") == true || choice.Excluded.Contains("XOAUTH2"))
            {
                conflict = "A token signs in with XOAUTH2 only: leave out -AuthenticationMechanism and -ExcludeAuthenticationMechanism, or give -Credential.";
            }
        }
        else if (Credential == null || Credential == PSCredential.Empty)
        {
            conflict = "-AuthenticationMechanism and -ExcludeAuthenticationMechanism choose how credentials sign in: give -Credential (or -UseDefaultCredentials).";
        }
        else if (left?.Contains("XOAUTH2") == true)
        {
            conflict = "XOAUTH2 signs in with a token, not a password: give -AccessToken and -UserName instead of -Credential.";
        }

        if (conflict != null)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException(conflict), "ConflictingAuthenticationMechanism", ErrorCategory.InvalidArgument,
                ChosenMechanisms ?? ExcludedMechanisms));
        }

        _mechanisms = choice;
    }

    private static bool IsAuthorityBase(Uri authority) =>
        authority.IsAbsoluteUri && authority.Scheme == Uri.UriSchemeHttps && authority.AbsolutePath.Trim('/').Length == 0 &&
        authority.Query.Length == 0 && authority.Fragment.Length == 0 && authority.UserInfo.Length == 0;

    private bool AppOnly => ParameterSetName is AppSecretSet or AppCertificateThumbprintSet or AppCertificateSet;

    /// <summary>Makes a session (which opens the -TranscriptPath file); null, with a TranscriptFailed
    /// error written and the command stopped, when that file cannot be written.</summary>
    protected T? OpenOrStop<T>(Func<T?> open)
        where T : class
    {
        try
        {
            return open();
        }
        // Only the transcript file is opened here; a missing assembly (FileNotFound/FileLoad, also
        // IOExceptions) is no transcript problem and must not be reported as one.
        catch (Exception ex) when (TranscriptPath != null && ex is not FileNotFoundException && ex is not FileLoadException
            && (ex is IOException || ex is UnauthorizedAccessException))
        {
            StopWithError(new ErrorRecord(
                new IOException($"Cannot write the transcript file '{TranscriptPath}': {ex.Message}. Nothing was sent, read or deleted.", ex),
                "TranscriptFailed", ErrorCategory.WriteError, TranscriptPath));
            return null;
        }
    }

    /// <summary>The engine settings for <paramref name="host"/>. -UseSsl without -TlsMode means
    /// TLS required: implicit on <paramref name="implicitTlsPort"/>, STARTTLS elsewhere. Without
    /// -Port, the protocol's port for the TLS mode. Null, with the error written and the command
    /// stopped, when the parameters cannot make a login.</summary>
    protected ConnectionSettings? CreateSettings(string host, int implicitTlsPort, int plainPort, string? defaultUserName)
    {
        // -UseSsl means TLS required, so it turns Auto (given or not) into STARTTLS or implicit TLS.
        var tlsMode = (Engine.TlsMode)TlsMode;
        if (UseSsl && tlsMode == Engine.TlsMode.Auto)
        {
            tlsMode = Port == implicitTlsPort ? Engine.TlsMode.Implicit : Engine.TlsMode.StartTls;
        }

        var settings = new ConnectionSettings
        {
            Host = host,
            Port = Port != 0 ? Port : tlsMode == Engine.TlsMode.Implicit ? implicitTlsPort : plainPort,
            TlsMode = tlsMode,
            SkipCertificateCheck = SkipCertificateCheck,
            CheckCertificateRevocation = CheckCertificateRevocation,
            AllowUnencryptedAuthentication = AllowUnencryptedAuthentication,
            Mechanisms = _mechanisms,
            Timeout = TimeSpan.FromSeconds(TimeoutSec),
        };

        if (TranscriptPath != null)
        {
            try
            {
                settings.TranscriptPath = GetUnresolvedProviderPathFromPSPath(TranscriptPath);
            }
            catch (Exception ex) when (ex is SessionStateException || ex is NotSupportedException || ex is ArgumentException)
            {
                StopWithError(new ErrorRecord(ex, "TranscriptFailed", ErrorCategory.InvalidArgument, TranscriptPath));
                return null;
            }
        }

        if (AppOnly)
        {
            var user = UserName ?? defaultUserName;
            if (user == null)
            {
                StopWithError(new ErrorRecord(new ArgumentException("An app-only sign-in needs the mailbox's user name: give -UserName."),
                    "UserNameRequired", ErrorCategory.InvalidArgument, host));
                return null;
            }

            try
            {
                settings.TokenSource = new EntraTokenSource(new EntraApp
                {
                    TenantId = TenantId!,
                    ClientId = ClientId!,
                    ClientSecret = ClientSecret == null ? null : new NetworkCredential("", ClientSecret).Password,
                    Certificate = ParameterSetName == AppCertificateThumbprintSet ? CertificateStore.FindByThumbprint(CertificateThumbprint!) : Certificate,
                    Cloud = (MicrosoftCloud)Environment,
                    Authority = Authority,
                }, WriteVerbose);
            }
            catch (MailOperationException ex)
            {
                StopWithError(ToErrorRecord(ex));
                return null;
            }

            settings.UseOAuth2 = true;
            settings.Credential = new NetworkCredential(user, "");
            WriteVerbose($"Tokens for '{user}' come from {settings.TokenSource.Description}.");
        }
        else if (ParameterSetName == ServiceAccountSet)
        {
            // Domain-wide delegation: the service account signs in as the mailbox itself.
            var user = UserName ?? defaultUserName;
            if (user == null)
            {
                StopWithError(new ErrorRecord(new ArgumentException("A service account needs the mailbox to act as: give -UserName."),
                    "UserNameRequired", ErrorCategory.InvalidArgument, host));
                return null;
            }

            try
            {
                var key = GoogleServiceAccountKey.Load(GetUnresolvedProviderPathFromPSPath(ServiceAccountKeyPath));
                settings.TokenSource = new GoogleServiceAccountTokenSource(key, WriteVerbose);
            }
            catch (MailOperationException ex)
            {
                StopWithError(ToErrorRecord(ex));
                return null;
            }
            catch (Exception ex) when (ex is SessionStateException || ex is NotSupportedException || ex is ArgumentException)
            {
                StopWithError(new ErrorRecord(ex, "ServiceAccountKeyUnreadable", ErrorCategory.InvalidArgument, ServiceAccountKeyPath));
                return null;
            }

            settings.UseOAuth2 = true;
            settings.Credential = new NetworkCredential(user, "");
            WriteVerbose($"Tokens for '{user}' come from {settings.TokenSource.Description}.");
        }
        else if (ParameterSetName == OAuthSet)
        {
            if (UserName == null && defaultUserName == null)
            {
                StopWithError(new ErrorRecord(new ArgumentException("-AccessToken needs the mailbox's user name: give -UserName."),
                    "UserNameRequired", ErrorCategory.InvalidArgument, host));
                return null;
            }

            settings.UseOAuth2 = true;
            settings.Credential = new NetworkCredential(UserName ?? defaultUserName ?? "", AccessToken);
        }
        else if (ParameterSetName == DefaultCredentialsSet && DefaultCredentialsRequested)
        {
            settings.UseDefaultCredentials = true;
            WriteVerbose("Signing in as the current logon (Kerberos, SASL GSSAPI).");
        }
        else if (Credential != null && Credential != PSCredential.Empty)
        {
            settings.Credential = new NetworkCredential(Credential.UserName, Credential.Password);
        }

        // POP3's USER/PASS/APOP carry these as they are: a line break would end the command and
        // start one the user never chose (a secret read from a file often ends in one).
        if (settings.Credential != null && (HasLineBreak(settings.Credential.UserName) || HasLineBreak(settings.Credential.Password)))
        {
            StopWithError(new ErrorRecord(
                new ArgumentException("The user name or the password holds a line break or NUL, which no login can use: remove it (a secret read from a file often ends in a newline)."),
                "CredentialHasLineBreak", ErrorCategory.InvalidArgument, settings.Credential.UserName));
            return null;
        }

        return settings;
    }

    /// <summary>-UseDefaultCredentials was given, and not as -UseDefaultCredentials:$false
    /// (which Send-SmtpMessage takes as "never sign in as the current logon").</summary>
    protected bool DefaultCredentialsRequested =>
        MyInvocation.BoundParameters.TryGetValue("UseDefaultCredentials", out var value) && LanguagePrimitives.IsTrue(value);

    private static bool HasLineBreak(string text) => text.IndexOfAny(new[] { '\r', '\n', '\0' }) >= 0;
}
