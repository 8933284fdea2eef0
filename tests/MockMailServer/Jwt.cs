using System;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace MockMail;

/// <summary>
/// A signed JWT (compact JWS, RFC 7515) as the mock token endpoints read one: three parts in
/// base64url, which has no padding and no '+' or '/', the header and claims JSON objects, and
/// the signature over "header.claims".
/// </summary>
internal sealed class Jwt
{
    private readonly byte[] _signed;

    private Jwt(JsonElement header, JsonElement claims, byte[] signature, byte[] signed)
    {
        Header = header;
        Claims = claims;
        Signature = signature;
        _signed = signed;
    }

    public JsonElement Header { get; }

    public JsonElement Claims { get; }

    public byte[] Signature { get; }

    /// <summary>The JWT in <paramref name="text"/>; null, with what is wrong, when it is not one.</summary>
    public static Jwt? Parse(string? text, out string problem)
    {
        problem = "";
        var parts = text?.Split('.') ?? Array.Empty<string>();
        if (parts.Length != 3)
        {
            problem = "it must have 3 parts";
            return null;
        }

        try
        {
            var header = JsonDocument.Parse(FromBase64Url(parts[0])).RootElement;
            var claims = JsonDocument.Parse(FromBase64Url(parts[1])).RootElement;
            if (header.ValueKind != JsonValueKind.Object || claims.ValueKind != JsonValueKind.Object)
            {
                problem = "its header and claims must be JSON objects";
                return null;
            }

            return new Jwt(header, claims, FromBase64Url(parts[2]), Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]));
        }
        catch (Exception ex) when (ex is FormatException || ex is JsonException)
        {
            problem = ex.Message;
            return null;
        }
    }

    /// <summary>Whether the signature (SHA-256) verifies with <paramref name="key"/>.</summary>
    public bool Verifies(RSA key, RSASignaturePadding padding) => key.VerifyData(_signed, Signature, HashAlgorithmName.SHA256, padding);

    /// <summary>A string member of the header or the claims; null when it is missing or not a string.</summary>
    public static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public static string Base64Url(byte[] data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string text)
    {
        foreach (var c in text)
        {
            if (!(c is >= 'A' and <= 'Z' || c is >= 'a' and <= 'z' || c is >= '0' and <= '9' || c == '-' || c == '_'))
            {
                throw new FormatException($"'{c}' is not a base64url character (no padding, no '+' or '/').");
            }
        }

        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '='));
    }
}
