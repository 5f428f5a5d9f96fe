//! Column names as pandas' `read_csv` gives them: an empty header cell becomes
//! `Unnamed: {index}`, and a repeated name gets `.1`, `.2`, … skipping any
//! suffix the header already uses.

pub fn column_names(header: Vec<String>) -> Vec<String> {
    let mut names: Vec<String> = header
        .into_iter()
        .enumerate()
        .map(|(index, name)| {
            if name.is_empty() {
                format!("Unnamed: {index}")
            } else {
                name
            }
        })
        .collect();
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for index in 0..names.len() {
        let original = names[index].clone();
        let mut count = counts.get(&original).copied().unwrap_or(0);
        let mut name = original.clone();
        while count > 0 {
            counts.insert(original.clone(), count + 1);
            name = format!("{original}.{count}");
            if names.contains(&name) {
                count += 1;
            } else {
                count = counts.get(&name).copied().unwrap_or(0);
            }
        }
        counts.insert(name.clone(), count + 1);
        names[index] = name;
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(header: &[&str]) -> Vec<String> {
        column_names(header.iter().map(|name| (*name).to_owned()).collect())
    }

    // Each case was read by pandas 3.1 `read_csv`.
    #[test]
    fn names_follow_pandas() {
        assert_eq!(names(&["name", "name", ""]), ["name", "name.1", "Unnamed: 2"]);
        assert_eq!(names(&["a", "a", "a.1"]), ["a", "a.2", "a.1"]);
        assert_eq!(names(&["a", "a.1", "a"]), ["a", "a.1", "a.2"]);
        assert_eq!(names(&["a", "", ""]), ["a", "Unnamed: 1", "Unnamed: 2"]);
        assert_eq!(
            names(&["Unnamed: 1", "", "c"]),
            ["Unnamed: 1", "Unnamed: 1.1", "c"]
        );
        assert_eq!(names(&["x", "x", "x"]), ["x", "x.1", "x.2"]);
    }
}
