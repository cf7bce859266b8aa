using Miosa.Actors.Common;
using Miosa.Actors.Sandboxes;
using Miosa.Api.Http;

namespace Miosa.Api.Sandboxes;

/// <summary>A validated <c>POST /v1/sandboxes</c> body.</summary>
public sealed record SandboxRequest(
    string Template,
    IReadOnlyDictionary<string, string> Env,
    SandboxResources Resources,
    int TimeoutSeconds,
    bool AutoResume,
    bool AllowInternet,
    Attribution Attribution)
{
    public const int DefaultTimeoutSeconds = 900;

    public static (SandboxRequest? Request, Rejection? Error) Read(JsonRequest body, SandboxTemplates templates)
    {
        var template = body.String("template", maxLength: 64) ?? SandboxTemplates.Default;
        var env = body.StringMap("env", IsEnvName, maxEntries: 256, maxValueLength: 32 * 1024) ?? new Dictionary<string, string>();
        var timeout = body.Int("timeout_seconds", 0, 7 * 86_400) ?? DefaultTimeoutSeconds;
        var autoResume = body.Bool("auto_resume") ?? true;
        var allowInternet = body.Bool("allow_internet") ?? false;
        var resources = body.Object("resources");
        var d = SandboxResources.Default;
        var cpu = resources?.Number("cpu", 0.1, Environment.ProcessorCount) ?? d.Cpu;
        var memory = resources?.Int("memory_mb", 64, 64 * 1024) ?? d.MemoryMb;
        var disk = resources?.Int("disk_mb", 64, 1024 * 1024) ?? d.DiskMb;
        body.Absorb(resources);
        var attribution = ReadAttribution(body);
        if (body.Error is not null) return (null, body.Error);
        if (templates.Find(template) is null)
            return (null, new Rejection("unknown_template", $"No template '{template}'. See GET /v1/templates.", 422, "template"));
        return (new SandboxRequest(template, env, new SandboxResources(cpu, memory, disk, d.Pids), timeout, autoResume, allowInternet, attribution), null);
    }

    public static Attribution ReadAttribution(JsonRequest body) => new(
        body.String("workspace_id"),
        body.String("project_id"),
        body.String("external_workspace_id"),
        body.String("external_user_id"),
        body.String("external_project_id"),
        body.StringMap("metadata", k => k.Length is > 0 and <= 64, maxEntries: 50, maxValueLength: 512));

    private static bool IsEnvName(string name) =>
        name.Length is > 0 and <= 256 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');
}
