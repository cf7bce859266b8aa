namespace Miosa.Bench.ReadModels;

/// <summary>What the measurements on one engine share: the database, its journal, the options and the table.</summary>
public sealed record BenchRun(Engine Engine, BenchJournal Journal, BenchOptions Options, ResultTable Table)
{
    /// <summary>A metric's name with the engine it was measured on.</summary>
    public string Metric(string text) => $"{Engine.Name}: {text}";

    public static void Log(string line) => BenchMain.Log(line);
}
