using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MailProtocols.Engine.OAuth;
using Xunit;

namespace MailProtocols.Engine.Tests;

/// <summary>The service account key file, the signed assertion made from it, and what each
/// answer of the token endpoint becomes.</summary>
public sealed class GoogleServiceAccountTests : IDisposable
{
    private const string Email = "mailer@contoso-mail.iam.gserviceaccount.com";
    private const string TokenUri = "https://oauth2.example.test/token";
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    private readonly string _dir = Directory.CreateTempSubdirectory("google-key-").FullName;
    private readonly RSA _rsa = RSA.Create(2048);

    public void Dispose()
    {
        _rsa.Dispose();
        Directory.Delete(_dir, true);
    }

    [Fact]
    public void TheAssertionIsAnRs256JwtInBase64UrlForTheMailboxAndTheTokenUri()
    {
        var source = new GoogleServiceAccountTokenSource(GoogleServiceAccountKey.Load(Write(KeyFile())), null);

        var parts = source.CreateAssertion("reports@contoso.com", Now).Split('.');

        Assert.Equal(3, parts.Length);
        Assert.All(parts, p => Assert.Matches("^[A-Za-z0-9_-]+$", p));
        var header = Decode(parts[0]);
        Assert.Equal("RS256", header.GetProperty("alg").GetString());
        Assert.Equal("JWT", header.GetProperty("typ").GetString());
        Assert.Equal("0123456789abcdef", header.GetProperty("kid").GetString());
        var claims = Decode(parts[1]);
        Assert.Equal(Email, claims.GetProperty("iss").GetString());
        Assert.Equal("reports@contoso.com", claims.GetProperty("sub").GetString());
        Assert.Equal("https://mail.google.com/", claims.GetProperty("scope").GetString());
        Assert.Equal(TokenUri, claims.GetProperty("aud").GetString());
        Assert.Equal(Now.ToUnixTimeSeconds(), claims.GetProperty("iat").GetInt64());
        Assert.Equal(3600, claims.GetProperty("exp").GetInt64() - claims.GetProperty("iat").GetInt64());
        Assert.True(_rsa.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), FromBase64Url(parts[2]), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    [Fact]
    public void AKeyFileReadsAsItsFields()
    {
        var key = GoogleServiceAccountKey.Load(Write(KeyFile()));

        Assert.Equal(Email, key.ClientEmail);
        Assert.Equal("104271263917263917263", key.ClientId);
        Assert.Equal("0123456789abcdef", key.PrivateKeyId);
        Assert.Equal(new Uri(TokenUri), key.TokenUri);
    }

    [Fact]
    public void AnotherKeyUnderTheSameKeyIdHasAnotherPublicKeyHash()
    {
        using var other = RSA.Create(2048);
        var first = GoogleServiceAccountKey.Load(Write(KeyFile()));
        var second = GoogleServiceAccountKey.Load(Write(KeyFile(f => f["private_key"] = other.ExportPkcs8PrivateKeyPem()), "second.json"));

        Assert.Equal(first.PrivateKeyId, second.PrivateKeyId);
        Assert.NotEqual(first.PublicKeyHash, second.PublicKeyHash);
    }

    public static TheoryData<string, string, string, MailErrorKind, string> Refusals => new()
    {
        { "no such file", "missing", "ServiceAccountKeyUnreadable", MailErrorKind.ObjectNotFound, "there is no such file" },
        { "a folder", "folder", "ServiceAccountKeyUnreadable", MailErrorKind.InvalidArgument, "it is a folder, not a file" },
        { "not JSON", "{ \"type\": ", "ServiceAccountKeyInvalid", MailErrorKind.InvalidArgument, "it is not JSON (" },
        { "a JSON array", "[]", "ServiceAccountKeyInvalid", MailErrorKind.InvalidArgument, "it is not a JSON object" },
        { "another credential", "{ \"type\": \"authorized_user\" }", "ServiceAccountKeyInvalid", MailErrorKind.InvalidArgument, "its type is 'authorized_user'" },
        { "no type", "{}", "ServiceAccountKeyInvalid", MailErrorKind.InvalidArgument, "it has no \"type\"" },
        { "no client_email", "-client_email", "ServiceAccountKeyInvalid", MailErrorKind.InvalidArgument, "it has no \"client_email\"" },
        { "no private_key_id", "-private_key_id", "ServiceAccountKeyInvalid", MailErrorKind.InvalidArgument, "it has no \"private_key_id\"" },
        { "no token_uri", "-token_uri", "ServiceAccountKeyInvalid", MailErrorKind.InvalidArgument, "it has no \"token_uri\"" },
        { "a broken key", "private_key=-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", "ServiceAccountKeyInvalid", MailErrorKind.InvalidArgument, "its private_key is not" },
        { "no PEM at all", "private_key=not a key", "ServiceAccountKeyInvalid", MailErrorKind.InvalidArgument, "its private_key is not an RSA private key" },
        { "an http token_uri", "token_uri=http://oauth2.example.test/token", "InvalidTokenUri", MailErrorKind.InvalidArgument, "not an https URL" },
        { "a relative token_uri", "token_uri=/token", "InvalidTokenUri", MailErrorKind.InvalidArgument, "not an https URL" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void AFileThatIsNoUsableKeyIsRefusedWithItsReason(string what, string file, string errorId, MailErrorKind kind, string text)
    {
        var path = file switch
        {
            "missing" => Path.Combine(_dir, "missing.json"),
            "folder" => Directory.CreateDirectory(Path.Combine(_dir, "folder.json")).FullName,
            _ when file.StartsWith('-') => Write(KeyFile(f => f.Remove(file.Substring(1)))),
            _ when file.Contains('=') && !file.StartsWith('{') => Write(KeyFile(f => f[file.Split('=', 2)[0]] = file.Split('=', 2)[1])),
            _ => Write(file),
        };

        var ex = Assert.Throws<MailOperationException>(() => GoogleServiceAccountKey.Load(path));

        Assert.True(ex.ErrorId == errorId, what);
        Assert.Equal(kind, ex.Kind);
        Assert.Contains(text, ex.Message, StringComparison.Ordinal);
        Assert.Equal(path, ex.Target);
        Assert.True(ex.IsSessionFailure);
        Assert.DoesNotContain("..", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(".)", ex.Message, StringComparison.Ordinal);
    }

    public static TheoryData<int, string, MailErrorKind, string?, string[]> Answers => new()
    {
        { 401, "{\"error\":\"unauthorized_client\",\"error_description\":\"Client is unauthorized to retrieve access tokens using this method.\"}",
            MailErrorKind.AuthenticationError, "unauthorized_client", new[] { "Google refused a token", "Manage Domain Wide Delegation", "104271263917263917263", "https://mail.google.com/" } },
        { 403, "{\"error\":\"access_denied\",\"error_description\":\"Requested client not authorized.\"}",
            MailErrorKind.AuthenticationError, "access_denied", new[] { "App access control", "turn Gmail on for the mailbox's organizational unit" } },
        { 400, "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid email or User ID\"}",
            MailErrorKind.AuthenticationError, "invalid_grant", new[] { "'reports@contoso.com' must be a user of the Google Workspace domain" } },
        { 400, "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT Signature.\"}",
            MailErrorKind.AuthenticationError, "invalid_grant", new[] { "Invalid JWT Signature. The key was deleted or disabled" } },
        { 400, "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.\"}",
            MailErrorKind.AuthenticationError, "invalid_grant", new[] { "set this computer's clock right" } },
        { 401, "{\"error\":\"invalid_client\",\"error_description\":\"The OAuth client was not found.\"}",
            MailErrorKind.AuthenticationError, "invalid_client", new[] { "deleted or disabled in its Google Cloud project" } },
        { 400, "{\"error\":\"disabled_client\"}",
            MailErrorKind.AuthenticationError, "disabled_client", new[] { "refused a token for 'reports@contoso.com' to service account 'mailer@contoso-mail.iam.gserviceaccount.com': disabled_client. The service account was deleted" } },
        { 404, "<html>Not Found</html>",
            MailErrorKind.AuthenticationError, null, new[] { "HTTP 404 without an OAuth2 answer. Check the service account" } },
        { 429, "{\"error\":\"rate_limit_exceeded\",\"error_description\":\"Rate limit exceeded.\"}",
            MailErrorKind.ResourceUnavailable, "rate_limit_exceeded", new[] { "rate_limit_exceeded: Rate limit exceeded. The token endpoint is busy", "try again later" } },
        { 503, "<html>Service Unavailable</html>",
            MailErrorKind.ResourceUnavailable, null, new[] { "HTTP 503 without an OAuth2 answer. The token endpoint is busy", "try again later" } },
        { 500, "{\"error\":\"internal_failure\"}",
            MailErrorKind.ResourceUnavailable, "internal_failure", new[] { "try again later" } },
        { 200, "{\"access_token\":\"ya29.x\",\"token_type\":\"Bearer\"}",
            MailErrorKind.ProtocolError, null, new[] { "answered HTTP 200 without an access token", "proxy" } },
        { 200, "{\"expires_in\":3600}",
            MailErrorKind.ProtocolError, null, new[] { "answered HTTP 200 without an access token" } },
        { 200, "<html>Sign in to the proxy</html>",
            MailErrorKind.ProtocolError, null, new[] { "answered HTTP 200 without an access token" } },
    };

    [Theory]
    [MemberData(nameof(Answers))]
    public void EachAnswerWithoutATokenNamesWhatToDo(int status, string body, MailErrorKind kind, string? code, string[] texts)
    {
        var source = new GoogleServiceAccountTokenSource(GoogleServiceAccountKey.Load(Write(KeyFile())), null);

        var ex = Assert.Throws<MailOperationException>(() => source.Answer("reports@contoso.com", Now, status, body));

        Assert.Equal("OAuthTokenFailed", ex.ErrorId);
        Assert.Equal(kind, ex.Kind);
        Assert.Equal(code, ex.ServiceErrorCode);
        Assert.True(ex.IsSessionFailure);
        Assert.All(texts, t => Assert.Contains(t, ex.Message, StringComparison.Ordinal));
        Assert.DoesNotContain("..", ex.Message, StringComparison.Ordinal);
        Assert.Equal(kind == MailErrorKind.ResourceUnavailable, ex.Message.Contains("try again later", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(3600L, 3600L)]
    [InlineData(long.MaxValue, 86400L)]
    [InlineData(-5L, 0L)]
    public void AToken200IsValidForItsExpiresInHeldToADay(long expiresIn, long seconds)
    {
        var source = new GoogleServiceAccountTokenSource(GoogleServiceAccountKey.Load(Write(KeyFile())), null);

        var token = source.Answer("reports@contoso.com", Now, 200, $"{{\"access_token\":\"ya29.x\",\"expires_in\":{expiresIn},\"token_type\":\"Bearer\"}}");

        Assert.Equal("ya29.x", token.Value);
        Assert.Equal(Now.AddSeconds(seconds), token.ExpiresOn);
    }

    private Dictionary<string, string> KeyFile(Action<Dictionary<string, string>>? change = null)
    {
        var file = new Dictionary<string, string>
        {
            ["type"] = "service_account",
            ["project_id"] = "contoso-mail",
            ["private_key_id"] = "0123456789abcdef",
            ["private_key"] = _rsa.ExportPkcs8PrivateKeyPem() + "\n",
            ["client_email"] = Email,
            ["client_id"] = "104271263917263917263",
            ["token_uri"] = TokenUri,
        };
        change?.Invoke(file);
        return file;
    }

    private string Write(Dictionary<string, string> file, string name = "key.json") => Write(JsonSerializer.Serialize(file), name);

    private string Write(string text, string name = "key.json")
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static JsonElement Decode(string part) => JsonDocument.Parse(FromBase64Url(part)).RootElement;

    private static byte[] FromBase64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '='));
    }
}
