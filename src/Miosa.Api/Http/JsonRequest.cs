using System.Text.Json;
using Miosa.Actors.Common;

namespace Miosa.Api.Http;

/// <summary>
/// Reads a JSON request body field by field. The first bad field becomes <see cref="Error"/>, a
/// rejection that names it; readers after that return defaults, so a handler checks once at the end.
/// </summary>
public sealed class JsonRequest
{
    public const int MaxBodyBytes = 1024 * 1024;
    private readonly JsonElement _root;

    private JsonRequest(JsonElement root) => _root = root;

    public Rejection? Error { get; private set; }

    /// <summary>A body with no fields, for requests whose every field is optional and that came without one.</summary>
    public static JsonRequest Empty() => new(JsonDocument.Parse("{}").RootElement.Clone());

    public static async Task<(JsonRequest? Request, Rejection? Error)> ReadAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength > MaxBodyBytes)
            return (null, new Rejection("body_too_large", $"A request body is at most {MaxBodyBytes} bytes.", 413, "body"));
        try
        {
            using var document = await JsonDocument.ParseAsync(new LimitedStream(request.Body, MaxBodyBytes), cancellationToken: ct);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? (new JsonRequest(document.RootElement.Clone()), null)
                : (null, Rejection.Invalid("body", "The body must be a JSON object."));
        }
        catch (JsonException e)
        {
            return (null, Rejection.Invalid("body", $"The body is not valid JSON: {e.Message}"));
        }
        catch (LimitedStream.TooLargeException)
        {
            return (null, new Rejection("body_too_large", $"A request body is at most {MaxBodyBytes} bytes.", 413, "body"));
        }
    }

    public string? String(string name, bool required = false, int maxLength = 256)
    {
        if (!Present(name, out var value))
        {
            if (required) Fail(name, $"{name} is required.");
            return null;
        }
        if (value.ValueKind != JsonValueKind.String) return Fail<string>(name, $"{name} must be a string.");
        var s = value.GetString()!;
        if (required && s.Length == 0) return Fail<string>(name, $"{name} must not be empty.");
        if (s.Length > maxLength) return Fail<string>(name, $"{name} is at most {maxLength} characters.");
        return s;
    }

    public bool? Bool(string name)
    {
        if (!Present(name, out var value)) return null;
        return value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : Fail<bool?>(name, $"{name} must be true or false.");
    }

    public double? Number(string name, double min, double max)
    {
        if (!Present(name, out var value)) return null;
        return value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var d) && d >= min && d <= max
            ? d
            : Fail<double?>(name, $"{name} must be a number between {min} and {max}.");
    }

    public int? Int(string name, int min, int max)
    {
        if (!Present(name, out var value)) return null;
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i) && i >= min && i <= max
            ? i
            : Fail<int?>(name, $"{name} must be an integer between {min} and {max}.");
    }

    /// <summary>An array of strings, bounded in entries and sizes; duplicates dropped, order kept.</summary>
    public IReadOnlyList<string>? Strings(string name, int maxEntries = 64, int maxLength = 256)
    {
        if (!Present(name, out var value)) return null;
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() > maxEntries
            || value.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String || e.GetString()!.Length > maxLength))
            return Fail<IReadOnlyList<string>>(name, $"{name} must be an array of at most {maxEntries} strings of at most {maxLength} characters.");
        return value.EnumerateArray().Select(e => e.GetString()!).Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>A map of strings, bounded in entries and sizes.</summary>
    public IReadOnlyDictionary<string, string>? StringMap(string name, Func<string, bool> validKey, int maxEntries = 64, int maxValueLength = 4096)
    {
        if (!Present(name, out var value)) return null;
        if (value.ValueKind != JsonValueKind.Object) return Fail<IReadOnlyDictionary<string, string>>(name, $"{name} must be an object of strings.");
        var map = new Dictionary<string, string>();
        foreach (var p in value.EnumerateObject())
        {
            if (!validKey(p.Name)) return Fail<IReadOnlyDictionary<string, string>>($"{name}.{p.Name}", $"'{p.Name}' is not a valid key for {name}.");
            if (p.Value.ValueKind != JsonValueKind.String || p.Value.GetString()!.Length > maxValueLength || p.Value.GetString()!.Contains('\0'))
                return Fail<IReadOnlyDictionary<string, string>>($"{name}.{p.Name}", $"{name}.{p.Name} must be a string of at most {maxValueLength} characters.");
            map[p.Name] = p.Value.GetString()!;
        }
        return map.Count > maxEntries ? Fail<IReadOnlyDictionary<string, string>>(name, $"{name} has at most {maxEntries} entries.") : map;
    }

    /// <summary>A nested object, read with its own field names prefixed (e.g. resources.cpu).</summary>
    public JsonRequest? Object(string name)
    {
        if (!Present(name, out var value)) return null;
        if (value.ValueKind != JsonValueKind.Object) return Fail<JsonRequest>(name, $"{name} must be an object.");
        return new JsonRequest(value) { _prefix = name + "." };
    }

    /// <summary>Takes a nested reader's error as this one's.</summary>
    public void Absorb(JsonRequest? nested)
    {
        if (Error is null && nested?.Error is { } error) Error = error;
    }

    private string _prefix = "";

    private bool Present(string name, out JsonElement value) =>
        _root.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;

    private void Fail(string name, string detail) => Error ??= Rejection.Invalid(_prefix + name, _prefix.Length > 0 ? _prefix + detail : detail);

    private T? Fail<T>(string name, string detail)
    {
        Fail(name, detail);
        return default;
    }

    private sealed class LimitedStream(Stream inner, long max) : Stream
    {
        private long _read;
        public sealed class TooLargeException : Exception;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => Count(await inner.ReadAsync(buffer, ct));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        private int Count(int n) => (_read += n) > max ? throw new TooLargeException() : n;
    }
}
