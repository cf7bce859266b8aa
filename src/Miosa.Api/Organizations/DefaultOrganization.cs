using Miosa.Actors.Hosting;

namespace Miosa.Api.Organizations;

/// <summary>First start of a single node: an organization 'default' whose key is written to the data dir.</summary>
public sealed class DefaultOrganization(OrganizationRegistry registry, MiosaNodeOptions options, ILogger<DefaultOrganization> log)
{
    public const string Slug = "default";

    public string KeyFile => Path.Combine(options.DataDir, "default-org.key");

    public async Task EnsureAsync(CancellationToken ct)
    {
        var owner = await registry.OwnerOfSlugAsync(Slug, ct);
        if (owner is not null && await registry.ExistsAsync(owner, ct)) return;
        var (created, rejection) = owner is null
            ? await registry.CreateAsync(Slug, "Default organization", ct, WriteKeyAsync)
            : await registry.CreateClaimedAsync(owner, Slug, "Default organization", ct, WriteKeyAsync);
        if (created is null) throw new InvalidOperationException($"Could not create the default organization: {rejection!.Detail}");
        log.LogInformation("Created organization 'default' ({Id}); its API key is in {KeyFile}", created.Value.Organization.Id, KeyFile);
        Console.WriteLine($"miosa: default organization key written to {KeyFile}");
    }

    private async Task WriteKeyAsync(string key)
    {
        var temp = KeyFile + ".tmp";
        await File.WriteAllTextAsync(temp, key + "\n");
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, KeyFile, overwrite: true);
    }
}
