using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Miosa.Actors.Sandboxes;

/// <summary>
/// A named root filesystem profile: the system the sandbox sees read-only (<see cref="SystemRoot"/>,
/// "/" being the host's), its default environment, and the tools it offers.
/// </summary>
public sealed record SandboxTemplateDefinition(
    string Name,
    string Description,
    IReadOnlyDictionary<string, string> Env,
    IReadOnlyList<string> Packages,
    string SystemRoot = "/");

/// <summary>
/// The templates this fleet offers: the built-in ones plus those an operator adds in a JSON file
/// (<c>MIOSA_TEMPLATES_FILE</c>, the same on every node): <c>[{"name", "description", "env", "packages", "system_root"}]</c>.
/// </summary>
public sealed partial class SandboxTemplates
{
    public const string Default = "miosa-sandbox";

    private static readonly string[] HostTools = ["bash", "git", "python3", "node", "npm", "curl"];

    public static IReadOnlyList<SandboxTemplateDefinition> Builtin { get; } =
    [
        new(Default, "Debian with git, Python 3, Node.js, npm and curl.", new Dictionary<string, string>(), HostTools),
        new("miosa-node", "miosa-sandbox set up for Node.js development.",
            new Dictionary<string, string> { ["NODE_ENV"] = "development", ["npm_config_cache"] = "/tmp/.npm" }, HostTools),
    ];

    public SandboxTemplates(IReadOnlyList<SandboxTemplateDefinition> all) => All = all;

    public static SandboxTemplates BuiltinOnly { get; } = new(Builtin);

    public IReadOnlyList<SandboxTemplateDefinition> All { get; }

    public SandboxTemplateDefinition? Find(string name) => All.FirstOrDefault(t => t.Name == name);

    /// <summary>The built-in templates plus the operator's file (null: none). Throws with a clear message on a bad file.</summary>
    public static SandboxTemplates Load(string? file)
    {
        if (file is null) return BuiltinOnly;
        List<FileTemplate>? added;
        try
        {
            added = JsonSerializer.Deserialize<List<FileTemplate>>(File.ReadAllText(file));
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            throw new ArgumentException($"MIOSA_TEMPLATES_FILE {file}: {e.Message}", e);
        }
        var all = Builtin.ToList();
        foreach (var t in added ?? [])
        {
            if (t.Name is null || !TemplateName().IsMatch(t.Name))
                throw new ArgumentException($"MIOSA_TEMPLATES_FILE {file}: template name '{t.Name}' must be 1-64 lowercase letters, digits or '-'.");
            if (all.Any(a => a.Name == t.Name))
                throw new ArgumentException($"MIOSA_TEMPLATES_FILE {file}: template '{t.Name}' is defined twice.");
            var root = t.SystemRoot ?? "/";
            if (!Path.IsPathFullyQualified(root) || !Directory.Exists(Path.Join(root, "usr")))
                throw new ArgumentException($"MIOSA_TEMPLATES_FILE {file}: template '{t.Name}': system_root '{root}' must be an absolute directory holding usr/.");
            all.Add(new SandboxTemplateDefinition(t.Name, t.Description ?? "", t.Env ?? new Dictionary<string, string>(), t.Packages ?? [], root));
        }
        return new SandboxTemplates(all);
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,63}$")]
    private static partial Regex TemplateName();

    private sealed record FileTemplate(
        [property: JsonPropertyName("name")] string? Name,
        [property: JsonPropertyName("description")] string? Description,
        [property: JsonPropertyName("env")] Dictionary<string, string>? Env,
        [property: JsonPropertyName("packages")] List<string>? Packages,
        [property: JsonPropertyName("system_root")] string? SystemRoot);
}
