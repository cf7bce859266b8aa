namespace Miosa.Actors.Sandboxes;

/// <summary>A named root filesystem profile with its default environment.</summary>
public sealed record SandboxTemplateDefinition(string Name, string Description, IReadOnlyDictionary<string, string> Env);

/// <summary>The templates this fleet offers. Both see the host's system root read-only for now.</summary>
public static class SandboxTemplates
{
    public const string Default = "miosa-sandbox";

    public static IReadOnlyList<SandboxTemplateDefinition> All { get; } =
    [
        new(Default, "Debian with git, Python 3, Node.js, npm and curl.", new Dictionary<string, string>()),
        new("miosa-node", "miosa-sandbox set up for Node.js development.",
            new Dictionary<string, string> { ["NODE_ENV"] = "development", ["npm_config_cache"] = "/tmp/.npm" }),
    ];

    public static SandboxTemplateDefinition? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}
