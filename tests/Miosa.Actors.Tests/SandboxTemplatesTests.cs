using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.Tests;

public class SandboxTemplatesTests
{
    private static string Write(string json)
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, json);
        return file;
    }

    [Fact]
    public void An_operator_adds_templates_with_their_own_system_root_next_to_the_builtin_ones()
    {
        var templates = SandboxTemplates.Load(Write("""[{"name":"python-slim","description":"Python only","env":{"A":"1"},"packages":["python3"],"system_root":"/"}]"""));
        Assert.Equal(["miosa-sandbox", "miosa-node", "python-slim"], templates.All.Select(t => t.Name));
        var added = templates.Find("python-slim")!;
        Assert.Equal("1", added.Env["A"]);
        Assert.Equal(["python3"], added.Packages);
        Assert.Equal("/", added.SystemRoot);
        Assert.Equal(SandboxTemplates.Builtin.Count, SandboxTemplates.Load(null).All.Count);
    }

    [Theory]
    [InlineData("""[{"name":"Bad Name"}]""", "name")]
    [InlineData("""[{"name":"miosa-node"}]""", "twice")]
    [InlineData("""[{"name":"x","system_root":"relative/dir"}]""", "system_root")]
    [InlineData("""[{"name":"x","system_root":"/nonexistent-root"}]""", "system_root")]
    [InlineData("""not json""", "MIOSA_TEMPLATES_FILE")]
    public void A_bad_template_file_stops_the_node_with_a_message_naming_the_problem(string json, string named)
    {
        var error = Assert.Throws<ArgumentException>(() => SandboxTemplates.Load(Write(json)));
        Assert.Contains(named, error.Message);
    }
}
