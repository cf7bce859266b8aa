using System.Text;

namespace Miosa.Bench;

/// <summary>One line of the result: a measured figure next to its baseline(s), its ratio to them and its goal.</summary>
public sealed record ResultRow(string Metric, string Measured, string Baseline, string Ratio, string Goal);

/// <summary>
/// The results of one run, printed as a Markdown table with notes under it; each row and note is
/// also logged to stderr as it comes.
/// </summary>
/// <param name="measuredHeading">The heading of the measured column.</param>
/// <param name="ratioColumn">Whether the table has a ratio column (between baseline and goal).</param>
/// <param name="verbose">Whether the log shows each row's goal, and a failure's whole exception.</param>
public sealed class ResultTable(string measuredHeading = "Miosa", bool ratioColumn = true, bool verbose = false)
{
    private readonly List<ResultRow> _rows = [];
    private readonly List<string> _notes = [];

    public void Add(string metric, string measured, string baseline = "", string ratio = "", string goal = "")
    {
        lock (_rows) _rows.Add(new ResultRow(metric, measured, baseline, ratio, goal));
        Console.Error.WriteLine($"bench: {metric}: {measured}{(baseline.Length > 0 ? $" (baseline {baseline})" : "")}" +
                                (verbose && goal.Length > 0 ? $" [{goal}]" : ""));
    }

    public void Note(string note)
    {
        lock (_notes) _notes.Add(note);
        Console.Error.WriteLine($"bench: note: {note}");
    }

    public bool HasErrors { get; private set; }

    public void Failed(string metric, string goal, Exception error, string baseline = "")
    {
        HasErrors = true;
        Add(metric, "error", baseline, goal: goal);
        Note($"{metric}: {error.GetType().Name}: {error.Message}");
        if (verbose) Console.Error.WriteLine(error);
    }

    /// <summary>"×2.4" of a measured time against a baseline time (how many times slower).</summary>
    public static string Ratio(double measured, double baseline) => baseline > 0 ? $"×{measured / baseline:F1}" : "";

    /// <summary>A goal with its verdict, e.g. "≤ 25 ms: met".</summary>
    public static string Goal(string goal, bool met) => $"{goal}: {(met ? "met" : "missed")}";

    public string ToMarkdown()
    {
        var text = new StringBuilder();
        text.AppendLine(ratioColumn ? $"| metric | {measuredHeading} | baseline | ratio | goal |" : $"| metric | {measuredHeading} | baseline | goal |");
        text.AppendLine(ratioColumn ? "|---|---|---|---|---|" : "|---|---|---|---|");
        lock (_rows)
        {
            foreach (var row in _rows)
            {
                text.AppendLine(ratioColumn
                    ? $"| {Cell(row.Metric)} | {Cell(row.Measured)} | {Cell(row.Baseline)} | {Cell(row.Ratio)} | {Cell(row.Goal)} |"
                    : $"| {Cell(row.Metric)} | {Cell(row.Measured)} | {Cell(row.Baseline)} | {Cell(row.Goal)} |");
            }
        }
        lock (_notes)
        {
            if (_notes.Count > 0) text.AppendLine();
            foreach (var note in _notes) text.AppendLine($"- {note.ReplaceLineEndings(" ")}");
        }
        return text.ToString();
    }

    private static string Cell(string value) => value.Replace("|", "\\|", StringComparison.Ordinal).ReplaceLineEndings(" ");
}
