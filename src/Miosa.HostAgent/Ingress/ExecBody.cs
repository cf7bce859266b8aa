using System.Text;
using System.Text.Json;
using Miosa.Actors.Common;

namespace Miosa.HostAgent.Ingress;

/// <summary>The public exec request (API.md), parsed field by field so errors can name the field.</summary>
public sealed record ExecBody(
    IReadOnlyList<string> Argv,
    string Cwd,
    IReadOnlyDictionary<string, string> Env,
    TimeSpan Timeout,
    byte[]? Stdin,
    bool Background)
{
    public const int MaxTimeoutSeconds = 86_400;

    public static (ExecBody? Body, Rejection? Error) Parse(ReadOnlySpan<byte> json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            return (null, Rejection.Invalid("body", $"The body is not valid JSON: {e.Message}"));
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return (null, Rejection.Invalid("body", "The body must be a JSON object."));

            IReadOnlyList<string> argv;
            if (!root.TryGetProperty("command", out var command))
                return (null, Rejection.Invalid("command", "command is required: a string for sh -c or an argv array."));
            if (command.ValueKind == JsonValueKind.String && command.GetString()!.Length > 0)
                argv = ["/bin/sh", "-c", command.GetString()!];
            else if (command.ValueKind == JsonValueKind.Array && command.GetArrayLength() > 0
                     && command.EnumerateArray().All(a => a.ValueKind == JsonValueKind.String))
                argv = command.EnumerateArray().Select(a => a.GetString()!).ToList();
            else
                return (null, Rejection.Invalid("command", "command must be a non-empty string or a non-empty array of strings."));
            if (argv.Any(a => a.Contains('\0')))
                return (null, Rejection.Invalid("command", "command must not contain NUL characters."));

            var cwd = "/workspace";
            if (root.TryGetProperty("cwd", out var cwdElement) && cwdElement.ValueKind != JsonValueKind.Null)
            {
                if (cwdElement.ValueKind != JsonValueKind.String || cwdElement.GetString()!.Length == 0 || cwdElement.GetString()!.Contains('\0'))
                    return (null, Rejection.Invalid("cwd", "cwd must be a non-empty path."));
                cwd = cwdElement.GetString()!;
                if (!cwd.StartsWith('/')) cwd = "/workspace/" + cwd;
            }

            var env = new Dictionary<string, string>();
            if (root.TryGetProperty("env", out var envElement) && envElement.ValueKind != JsonValueKind.Null)
            {
                if (envElement.ValueKind != JsonValueKind.Object)
                    return (null, Rejection.Invalid("env", "env must be an object of string values."));
                foreach (var p in envElement.EnumerateObject())
                {
                    if (!IsEnvName(p.Name) || p.Value.ValueKind != JsonValueKind.String || p.Value.GetString()!.Contains('\0'))
                        return (null, Rejection.Invalid($"env.{p.Name}", "env names are [A-Za-z_][A-Za-z0-9_]* and values strings."));
                    env[p.Name] = p.Value.GetString()!;
                }
            }

            var timeoutSeconds = 60.0;
            if (root.TryGetProperty("timeout_seconds", out var timeoutElement) && timeoutElement.ValueKind != JsonValueKind.Null)
            {
                if (timeoutElement.ValueKind != JsonValueKind.Number || !timeoutElement.TryGetDouble(out timeoutSeconds)
                    || timeoutSeconds <= 0 || timeoutSeconds > MaxTimeoutSeconds)
                    return (null, Rejection.Invalid("timeout_seconds", $"timeout_seconds must be a number in (0, {MaxTimeoutSeconds}]."));
            }

            byte[]? stdin = null;
            if (root.TryGetProperty("stdin", out var stdinElement) && stdinElement.ValueKind != JsonValueKind.Null)
            {
                if (stdinElement.ValueKind != JsonValueKind.String) return (null, Rejection.Invalid("stdin", "stdin must be a string."));
                stdin = Encoding.UTF8.GetBytes(stdinElement.GetString()!);
            }

            var background = false;
            if (root.TryGetProperty("background", out var bg) && bg.ValueKind != JsonValueKind.Null)
            {
                if (bg.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                    return (null, Rejection.Invalid("background", "background must be a boolean."));
                background = bg.GetBoolean();
            }
            return (new ExecBody(argv, cwd, env, TimeSpan.FromSeconds(timeoutSeconds), stdin, background), null);
        }
    }

    private static bool IsEnvName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
