using System;
using System.IO;
using System.Text.Json;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.OpenSsl;

namespace MailProtocols.Engine.OAuth;

/// <summary>
/// A Google Cloud service account key file (the JSON that the console's "Keys > Add key > JSON"
/// downloads): the service account's e-mail address, its client id, the RSA private key
/// (PKCS#8 PEM) and its id, and the token endpoint. JSON is read with System.Text.Json (in the
/// .NET 8 runtime; on .NET Framework the package MSAL already brings), the PEM key with
/// BouncyCastle (shipped with MimeKit), so both targets run the same code: .NET Framework 4.7.2
/// has no PEM import of its own.
/// </summary>
public sealed class GoogleServiceAccountKey
{
    private GoogleServiceAccountKey(string path, string clientEmail, string clientId, string privateKeyId, Uri tokenUri, RsaPrivateCrtKeyParameters privateKey)
    {
        Path = path;
        ClientEmail = clientEmail;
        ClientId = clientId;
        PrivateKeyId = privateKeyId;
        TokenUri = tokenUri;
        PrivateKey = privateKey;
    }

    public string Path { get; }

    /// <summary>The service account's address, the assertion's issuer.</summary>
    public string ClientEmail { get; }

    /// <summary>The numeric client id that the Admin console's domain-wide delegation names; empty when the file has none.</summary>
    public string ClientId { get; }

    public string PrivateKeyId { get; }

    public Uri TokenUri { get; }

    internal RsaPrivateCrtKeyParameters PrivateKey { get; }

    /// <summary>A hash of the public key, so that tokens got with one key are never handed out
    /// for a file that holds another under the same key id.</summary>
    internal string PublicKeyHash
    {
        get
        {
            using var sha = System.Security.Cryptography.SHA256.Create();
            return Convert.ToBase64String(sha.ComputeHash(PrivateKey.Modulus.ToByteArrayUnsigned()));
        }
    }

    /// <summary>Reads and checks the key file. Throws a <see cref="MailOperationException"/>:
    /// ServiceAccountKeyUnreadable (no such file, a folder, no access: PermissionDenied), ServiceAccountKeyInvalid (not a
    /// service account key), InvalidTokenUri (its token_uri is not an https URL).</summary>
    public static GoogleServiceAccountKey Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException || ex is DirectoryNotFoundException)
        {
            throw Unreadable(path, MailErrorKind.ObjectNotFound, "there is no such file", ex);
        }
        catch (UnauthorizedAccessException ex) when (Directory.Exists(path))
        {
            // .NET reports opening a folder as access denied.
            throw Unreadable(path, MailErrorKind.InvalidArgument, "it is a folder, not a file", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new MailOperationException("ServiceAccountKeyUnreadable", MailErrorKind.PermissionDenied, path,
                $"Cannot read the service account key file '{path}': the account '{Environment.UserName}' that runs the command may not read it. " +
                "Make that account the file's owner, with read access for it alone (chown and chmod 600 on Linux and macOS; the file's Security tab on Windows).", ex)
            { IsSessionFailure = true };
        }
        catch (Exception ex) when (ex is IOException || ex is NotSupportedException || ex is ArgumentException)
        {
            throw Unreadable(path, MailErrorKind.InvalidArgument, Sentence(ex.Message), ex);
        }

        string? type, clientEmail, clientId, privateKey, privateKeyId, tokenUri;
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Invalid(path, "it is not a JSON object", null);
            }

            var root = document.RootElement;
            type = Field(root, "type");
            clientEmail = Field(root, "client_email");
            clientId = Field(root, "client_id");
            privateKey = Field(root, "private_key");
            privateKeyId = Field(root, "private_key_id");
            tokenUri = Field(root, "token_uri");
        }
        catch (JsonException ex)
        {
            // The parser's message names a line and position, never the text there.
            throw Invalid(path, "it is not JSON (" + Sentence(ex.Message) + ")", ex);
        }

        if (type != "service_account")
        {
            throw Invalid(path, type == null ? "it has no \"type\"" : $"its type is '{type}', not 'service_account'", null);
        }

        foreach (var (name, value) in new[] { ("client_email", clientEmail), ("private_key", privateKey), ("private_key_id", privateKeyId), ("token_uri", tokenUri) })
        {
            if (string.IsNullOrEmpty(value))
            {
                throw Invalid(path, $"it has no \"{name}\"", null);
            }
        }

        if (!Uri.TryCreate(tokenUri, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps)
        {
            throw new MailOperationException("InvalidTokenUri", MailErrorKind.InvalidArgument, path,
                $"The service account key file '{path}' names the token endpoint '{tokenUri}', which is not an https URL, so the signed " +
                "assertion would go out unprotected; nothing was sent. Use the key file as Google issued it (token_uri https://oauth2.googleapis.com/token).")
            { IsSessionFailure = true };
        }

        return new GoogleServiceAccountKey(path, clientEmail!, clientId ?? "", privateKeyId!, uri, ReadRsaKey(path, privateKey!));
    }

    private static RsaPrivateCrtKeyParameters ReadRsaKey(string path, string pem)
    {
        object? read;
        try
        {
            using var reader = new StringReader(pem);
            read = new PemReader(reader).ReadObject();
        }
        catch (Exception ex) when (ex is IOException || ex is PemException || ex is ArgumentException || ex is InvalidCastException || ex is FormatException || ex is InvalidOperationException)
        {
            throw Invalid(path, "its private_key is not a PEM private key", ex);
        }

        var key = read switch
        {
            RsaPrivateCrtKeyParameters rsa => rsa,
            AsymmetricCipherKeyPair pair => pair.Private as RsaPrivateCrtKeyParameters,
            _ => null,
        };
        return key ?? throw Invalid(path, "its private_key is not an RSA private key in PEM", null);
    }

    private static string? Field(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>An exception's message as a clause inside a sentence: without its final period.</summary>
    private static string Sentence(string message) => message.Trim().TrimEnd('.');

    private static MailOperationException Unreadable(string path, MailErrorKind kind, string problem, Exception ex) =>
        new("ServiceAccountKeyUnreadable", kind, path,
            $"Cannot read the service account key file '{path}': {problem}. Give the path of the JSON key downloaded for the " +
            "service account, readable by the account that runs the command.", ex)
        { IsSessionFailure = true };

    private static MailOperationException Invalid(string path, string problem, Exception? ex) =>
        new("ServiceAccountKeyInvalid", MailErrorKind.InvalidArgument, path,
            $"'{path}' is not a Google service account key file: {problem}. Download a JSON key for the service account " +
            "(Google Cloud console: IAM & Admin > Service accounts > Keys > Add key > JSON) and give its path.", ex)
        { IsSessionFailure = true };
}
